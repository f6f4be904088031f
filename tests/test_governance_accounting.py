"""Accounting: usage rolled up the unit tree, and quota thresholds."""

from __future__ import annotations

import json

import pytest

from taxsms.governance.accounting import Accounting, QuotaLevel, parse_usage, quota_level, roll_up
from taxsms.governance.units import UnitTree

TREE = UnitTree.from_file()
RAW = {
    "county-e1|notice": "100",
    "county-e1|*": "130",
    "county-e1|reply": "30",
    "sub-e1-town|overdue_payment": "5",
    "sub-e1-town|*": "5",
    "county-e2|notice": "50",
    "city-east|internal": "7",
    "county-w1|notice": "11",
    "gone-unit|notice": "3",
}


def test_roll_up_includes_units_below() -> None:
    usage = parse_usage(RAW)
    assert usage["county-e1"] == {"notice": 100, "reply": 30}
    rolled = roll_up(TREE, usage)
    assert rolled["county-e1"] == {"notice": 100, "reply": 30, "overdue_payment": 5, "total": 135}
    assert rolled["city-east"] == {"notice": 150, "reply": 30, "overdue_payment": 5, "internal": 7, "total": 192}
    assert rolled["city-west"]["total"] == 11
    assert rolled["prov"]["total"] == 203  # the unknown unit is not in the province's tree
    assert rolled["county-e2"]["total"] == 50 and rolled["gone-unit"] == {"notice": 3, "total": 3}


@pytest.mark.parametrize(
    ("used", "adding", "quota", "kind", "level"),
    [
        (0, 10, None, "notice", QuotaLevel.OK),
        (70, 9, 100, "notice", QuotaLevel.OK),
        (70, 10, 100, "notice", QuotaLevel.WARNING),  # 80%
        (90, 10, 100, "notice", QuotaLevel.WARNING),  # exactly used up: still fits
        (90, 11, 100, "notice", QuotaLevel.STOP),
        (100, 0, 100, "internal", QuotaLevel.STOP),
        (100, 5, 100, "filing_reminder", QuotaLevel.WARNING),  # not a bulk kind: warned, not stopped
        (500, 5, 100, "reply", QuotaLevel.OK),  # replies are exempt
    ],
)
def test_quota_levels(used: int, adding: int, quota: int | None, kind: str, level: QuotaLevel) -> None:
    assert quota_level(used, adding, quota, kind) is level


async def test_report_and_quota_from_redis(redis, keys) -> None:  # type: ignore[no-untyped-def]
    await redis.hset(keys.usage("2026-11"), mapping=RAW)
    accounting = Accounting(redis, keys, TREE)
    report = await accounting.report("2026-11")
    assert report.rolled["city-east"]["total"] == 192
    data = report.to_dict(TREE)
    json.dumps(data)
    assert data["units"][0]["unit"] == "prov" and data["unknown_units"] == {"gone-unit": {"notice": 3}}
    assert (await accounting.check_quota("county-e1", "2026-11", 10)).level is QuotaLevel.OK  # no quota
    await accounting.set_quota("county-e1", 150)
    check = await accounting.check_quota("county-e1", "2026-11", 10)
    assert check.level is QuotaLevel.WARNING and check.used == 130 and check.ok
    assert (await accounting.check_quota("county-e1", "2026-11", 21)).level is QuotaLevel.STOP
    assert (await accounting.check_quota("county-e1", "2026-11", 21, "reply")).ok
    assert (await accounting.check_quota("county-e1", "2026-12", 21)).level is QuotaLevel.OK
    with pytest.raises(ValueError, match="YYYY-MM"):
        await accounting.report("2026-13")
