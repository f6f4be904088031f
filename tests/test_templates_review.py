"""Content review: forbidden terms caught through evasions, original spans quoted, reloadable list."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.governance.registry import load_registry
from taxsms.queue.keys import Keys
from taxsms.templates.review import (
    ART_11_CATEGORIES,
    ContentRejected,
    ContentReview,
    ReviewHolder,
    ReviewListError,
    fold,
)

LIST = """
# test list
[gambling]
赌博|賭博
博彩

[fraud]
发票代开|發票代開
刷单
"""


@pytest.fixture(scope="module")
def review() -> ContentReview:
    return ContentReview.parse(LIST)


@pytest.mark.parametrize(
    ("text", "term", "found"),
    [
        ("欢迎来玩赌博游戏", "赌博", "赌博"),
        ("欢迎来玩赌 博游戏", "赌博", "赌 博"),  # inserted space
        ("欢迎来玩赌\u3000博", "赌博", "赌\u3000博"),  # ideographic space
        ("赌*博", "赌博", "赌*博"),  # symbol
        ("赌·博", "赌博", "赌·博"),  # punctuation
        ("赌\u200b博", "赌博", "赌\u200b博"),  # zero-width space
        ("正规賭博平台", "赌博", "賭博"),  # traditional variant from the list
        ("專業發票代開", "发票代开", "發票代開"),
        ("兼职刷-单日结", "刷单", "刷-单"),
    ],
)
def test_forbidden_terms_are_caught_through_evasions(review: ContentReview, text: str, term: str, found: str) -> None:
    (match,) = review.check(text)
    assert match.term == term
    assert match.found == found
    assert text[slice(*match.original_span)] == found


def test_full_width_and_case_are_folded() -> None:
    review = ContentReview.parse("[test]\nvip代开|VIP代開\n")
    (match,) = review.check("尊享ＶＩＰ 代开服务")
    assert (match.term, match.found, match.original_span) == ("vip代开", "ＶＩＰ 代开", (2, 8))
    assert fold("Ａ b，Ｃ")[0] == "abc"


def test_clean_text_passes(review: ContentReview) -> None:
    text = "【某市税务局】尊敬的张三：您2026年10月的增值税申报期限为2026年11月17日，请及时办理申报。"
    assert review.check(text) == []
    review.ensure_clean(text)


def test_every_match_is_reported_in_order(review: ContentReview) -> None:
    matches = review.check("刷单返利，网络博彩，赌博")
    assert [(m.term, m.category) for m in matches] == [("刷单", "fraud"), ("博彩", "gambling"), ("赌博", "gambling")]


def test_ensure_clean_names_the_terms(review: ContentReview) -> None:
    with pytest.raises(ContentRejected, match="博彩 \\(gambling\\)") as caught:
        review.ensure_clean("【某局】博 彩")
    assert [m.term for m in caught.value.matches] == ["博彩"]


def test_the_shipped_list_loads_and_catches() -> None:
    review = ContentReview.from_file()
    assert {t.category for t in review.terms} == set(ART_11_CATEGORIES)
    assert [m.term for m in review.check("低价代開發票，联系我")] == ["代开发票"]


def test_toml_list(tmp_path: Path) -> None:
    path = tmp_path / "terms.toml"
    path.write_text('gambling = ["赌博|賭博"]\nfraud = ["刷单"]\n', encoding="utf-8")
    review = ContentReview.from_file(path)
    assert [(m.term, m.category) for m in review.check("賭博和刷单")] == [("赌博", "gambling"), ("刷单", "fraud")]


@pytest.mark.parametrize("text", ["赌博\n", "[x]\n***\n", "[x]\n|\n"])
def test_bad_lists_are_refused(text: str) -> None:
    with pytest.raises(ReviewListError):
        ContentReview.parse(text)


def test_an_empty_list_passes_everything() -> None:
    assert ContentReview.parse("# nothing yet\n").check("赌博") == []


async def test_redis_round_trip_and_reload_changes_the_verdict(redis: Redis, keys: Keys) -> None:
    with pytest.raises(ReviewListError, match="no forbidden-term list"):
        await ContentReview.from_redis(redis, keys)
    await ContentReview.parse("[gambling]\n赌博\n").save_to_redis(redis, keys)
    holder = ReviewHolder(await ContentReview.from_redis(redis, keys))
    assert holder.check("兼职刷单") == []
    assert await holder.reload(redis, keys) is False  # unchanged

    await ContentReview.parse("[gambling]\n赌博\n[fraud]\n刷单|刷單\n").save_to_redis(redis, keys)
    assert await holder.reload(redis, keys) is True
    assert [m.term for m in holder.check("兼职刷單")] == ["刷单"]
    with pytest.raises(ContentRejected):
        holder.ensure_clean("兼职刷单")

    await redis.set(keys.forbidden_terms, b"not json")
    before = holder.review
    with pytest.raises(ReviewListError):
        await holder.reload(redis, keys)
    assert holder.review is before  # a bad list never replaces the one in force


def test_reload_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("[gambling]\n赌博\n", encoding="utf-8")
    holder = ReviewHolder(ContentReview.from_file(path))
    assert holder.check("刷单") == []
    path.write_text("[fraud]\n刷单\n", encoding="utf-8")
    assert holder.reload_file(path) is True
    assert [m.term for m in holder.check("刷单赌博")] == ["刷单"]


async def test_the_registry_snapshot_builds_the_stored_list_once_until_it_changes(redis: Redis, keys: Keys) -> None:
    """Admission reloads its snapshot every few seconds; a long list (10,000 terms: ~40-120 ms) is not rebuilt
    each time it is unchanged, and a changed one is used at the next reload."""
    await ContentReview.parse("[gambling]\n赌博\n").save_to_redis(redis, keys)
    first, again = (await load_registry(redis, keys)).review, (await load_registry(redis, keys)).review
    assert again is first
    await ContentReview.parse("[gambling]\n赌博\n[fraud]\n刷单\n").save_to_redis(redis, keys)
    changed = (await load_registry(redis, keys)).review
    assert changed is not first and [m.term for m in changed.check("兼职刷单")] == ["刷单"]


def test_a_list_file_is_built_once_until_its_text_changes(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("[gambling]\n赌博\n", encoding="utf-8")
    first = ContentReview.from_file(path)
    assert ContentReview.from_file(path) is first
    path.write_text("[gambling]\n博彩\n", encoding="utf-8")  # same size, maybe the same mtime: the text decides
    changed = ContentReview.from_file(path)
    assert changed is not first and [m.term for m in changed.check("网上博彩")] == ["博彩"]
