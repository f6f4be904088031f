"""The unit tree: parsing, structure rules, queries, and its Redis storage."""

from __future__ import annotations

import pytest

from taxsms.governance.errors import NotFound
from taxsms.governance.units import Level, Unit, UnitError, UnitTree, load_units, save_units


@pytest.fixture
def tree() -> UnitTree:
    return UnitTree.from_file()


def test_example_tree_has_province_cities_and_counties(tree: UnitTree) -> None:
    assert tree.root == "prov"
    assert tree.name_of("prov") == "省税务局"
    assert [u.id for u in tree.children("prov")] == ["city-east", "city-west"]
    assert tree.level_of("county-w1") is Level.COUNTY
    assert tree.level_of("sub-e1-town") is Level.SUB_BUREAU


def test_path_and_contains(tree: UnitTree) -> None:
    assert [u.id for u in tree.path("county-e2")] == ["prov", "city-east", "county-e2"]
    assert tree.contains("prov", "county-w1")
    assert tree.contains("city-east", "sub-e1-town")
    assert tree.contains("county-e1", "county-e1")
    assert not tree.contains("city-east", "county-w1")
    assert not tree.contains("county-e1", "city-east")
    assert not tree.contains("county-e1", "nowhere")
    assert [u.id for u in tree.subtree("city-east")] == ["city-east", "county-e1", "sub-e1-town", "county-e2"]
    with pytest.raises(NotFound, match="nowhere"):
        tree.level_of("nowhere")


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ([Unit("p", "省局", Level.PROVINCE), Unit("c", "市局", Level.COUNTY, "p")], "cannot sit under"),
        ([Unit("p", "省局", Level.PROVINCE), Unit("c", "市局", Level.CITY, "x")], "not a known unit"),
        ([Unit("p", "省局", Level.PROVINCE), Unit("q", "省局2", Level.PROVINCE)], "exactly one root"),
        ([Unit("c", "市局", Level.CITY)], "exactly one root"),
        ([Unit("p", "省局", Level.PROVINCE), Unit("p", "省局", Level.PROVINCE)], "twice"),
    ],
)
def test_bad_trees_are_refused(units: list[Unit], message: str) -> None:
    with pytest.raises(UnitError, match=message):
        UnitTree(units)


def test_bad_toml_is_refused() -> None:
    with pytest.raises(UnitError, match="bad unit file"):
        UnitTree.from_toml('[[unit]]\nid = "p"\nname = "省局"\nlevel = "kingdom"\n')


async def test_units_round_trip_through_redis(redis, keys, tree: UnitTree) -> None:  # type: ignore[no-untyped-def]
    assert len(await load_units(redis, keys)) == 0
    await save_units(redis, keys, tree)
    loaded = await load_units(redis, keys)
    assert sorted(u.id for u in loaded) == sorted(u.id for u in tree)
    assert loaded.get("county-e1") == tree.get("county-e1")
    await save_units(redis, keys, UnitTree([Unit("p", "省税务局", Level.PROVINCE)]))
    assert [u.id for u in await load_units(redis, keys)] == ["p"]
