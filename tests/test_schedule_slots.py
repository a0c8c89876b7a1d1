"""Slot arithmetic of auto-update schedules: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workers.schedule import ScheduleError, first_slot, next_slot, validate_schedule, zone

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3 all year
BERLIN = "Europe/Berlin"


def local(tz: str | ZoneInfo, *args: int) -> datetime:
    """Return an aware datetime at a wall-clock time of a zone, converted to UTC."""
    return datetime(*args, tzinfo=zone(tz)).astimezone(UTC)


def times(*values: str) -> dict:
    """Return a fixed-times schedule."""
    return {"mode": "times", "times": list(values)}


# --- the seed's 5-minute rule --------------------------------------------------------------

@pytest.mark.parametrize(("listed", "now", "expected"), [
    # "you choose 12:10 and it is 12:08: the update happens at 12:10 the next day"
    ("12:10", (2024, 5, 14, 12, 8), (2024, 5, 15, 12, 10)),
    # "you choose 12:20 and it is 12:13: it fires today and then every day at 12:20"
    ("12:20", (2024, 5, 14, 12, 13), (2024, 5, 14, 12, 20)),
    # exactly five minutes ahead is enough
    ("12:20", (2024, 5, 14, 12, 15), (2024, 5, 14, 12, 20)),
    ("12:20", (2024, 5, 14, 12, 15, 1), (2024, 5, 15, 12, 20)),
])
def test_first_slot_follows_the_five_minute_rule(listed, now, expected):
    slot = first_slot(times(listed), local(MOSCOW, *now), MOSCOW)
    assert slot == local(MOSCOW, *expected)
    assert slot.tzinfo is UTC


def test_first_slot_takes_a_later_time_today_over_a_too_close_one():
    now = local(MOSCOW, 2024, 5, 14, 12, 8)
    assert first_slot(times("12:10", "18:00"), now, MOSCOW) == local(MOSCOW, 2024, 5, 14, 18, 0)


def test_times_are_read_in_the_account_time_zone():
    now = datetime(2024, 1, 10, 0, 0, tzinfo=UTC)
    assert first_slot(times("09:00"), now, "America/New_York") == datetime(
        2024, 1, 10, 14, 0, tzinfo=UTC)
    assert first_slot(times("09:00"), now, "Asia/Tokyo") == datetime(
        2024, 1, 11, 0, 0, tzinfo=UTC)


def test_an_unknown_time_zone_counts_as_utc():
    now = datetime(2024, 1, 10, 0, 0, tzinfo=UTC)
    assert first_slot(times("09:00"), now, "Mars/Olympus") == datetime(
        2024, 1, 10, 9, 0, tzinfo=UTC)


# --- times across midnight ----------------------------------------------------------------

def test_times_across_midnight():
    schedule = times("23:50", "00:10")
    first = first_slot(schedule, local(MOSCOW, 2024, 5, 14, 23, 40), MOSCOW)
    assert first == local(MOSCOW, 2024, 5, 14, 23, 50)
    second = next_slot(schedule, first, first, MOSCOW)
    assert second == local(MOSCOW, 2024, 5, 15, 0, 10)
    assert next_slot(schedule, second, second, MOSCOW) == local(MOSCOW, 2024, 5, 15, 23, 50)


def test_the_five_minute_lead_crosses_midnight():
    now = local(MOSCOW, 2024, 5, 14, 23, 58)
    assert first_slot(times("00:02"), now, MOSCOW) == local(MOSCOW, 2024, 5, 16, 0, 2)
    assert first_slot(times("00:03"), now, MOSCOW) == local(MOSCOW, 2024, 5, 15, 0, 3)


# --- daylight saving time in Europe/Berlin (2024-03-31 and 2024-10-27) ---------------------

def test_a_time_of_day_keeps_its_wall_clock_across_the_spring_change():
    schedule = times("09:00")
    before = local(BERLIN, 2024, 3, 30, 9, 0)
    after = next_slot(schedule, before, before, BERLIN)
    assert after == local(BERLIN, 2024, 3, 31, 9, 0)
    assert after - before == timedelta(hours=23)


def test_a_time_skipped_by_the_spring_change_fires_an_hour_later_that_day():
    schedule = times("02:30")
    first = first_slot(schedule, local(BERLIN, 2024, 3, 30, 12, 0), BERLIN)
    assert first == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # 03:30 summer time
    assert next_slot(schedule, first, first, BERLIN) == datetime(2024, 4, 1, 0, 30, tzinfo=UTC)


def test_a_time_repeated_by_the_autumn_change_fires_once():
    schedule = times("02:30")
    first = first_slot(schedule, local(BERLIN, 2024, 10, 26, 12, 0), BERLIN)
    assert first == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # the first 02:30 (summer)
    second = next_slot(schedule, first, first + timedelta(seconds=1), BERLIN)
    assert second == datetime(2024, 10, 28, 1, 30, tzinfo=UTC)  # not the second 02:30


def test_a_time_of_day_keeps_its_wall_clock_across_the_autumn_change():
    before = local(BERLIN, 2024, 10, 26, 9, 0)
    after = next_slot(times("09:00"), before, before, BERLIN)
    assert after - before == timedelta(hours=25)


# --- intervals -----------------------------------------------------------------------------

NOW = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("minutes", [1, 5, 10, 15, 30, 60, 1440])
def test_an_interval_first_fires_one_interval_after_switching_on(minutes):
    schedule = {"mode": "interval", "minutes": minutes}
    assert first_slot(schedule, NOW, "UTC") == NOW + timedelta(minutes=minutes)


def test_an_interval_keeps_its_rhythm_when_a_slot_fires_a_little_late():
    schedule = {"mode": "interval", "minutes": 5}
    slot = NOW - timedelta(seconds=1)
    assert next_slot(schedule, slot, NOW, "UTC") == slot + timedelta(minutes=5)


def test_an_interval_after_downtime_fires_once_then_resumes_from_now():
    schedule = {"mode": "interval", "minutes": 5}
    missed = NOW - timedelta(hours=3)  # 36 slots were missed while the scheduler was down
    following = next_slot(schedule, missed, NOW, "UTC")
    assert following == NOW + timedelta(minutes=5)


def test_times_after_downtime_skip_the_missed_days():
    schedule = times("09:00", "18:00")
    missed = datetime(2024, 5, 10, 9, 0, tzinfo=UTC)
    assert next_slot(schedule, missed, NOW, "UTC") == datetime(2024, 5, 14, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("schedule", [{}, {"mode": "after", "bundle_id": 3}])
def test_schedules_without_slots(schedule):
    assert first_slot(schedule, NOW, "UTC") is None


# --- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "normal"), [
    (None, {}),
    ({}, {}),
    ({"mode": "interval", "minutes": 1440}, {"mode": "interval", "minutes": 1440}),
    ({"mode": "interval", "minutes": "15"}, {"mode": "interval", "minutes": 15}),
    (times("18:30", "9:05", " 00:00 "), times("00:00", "09:05", "18:30")),
    ({"mode": "after", "bundle_id": "7"}, {"mode": "after", "bundle_id": 7}),
])
def test_valid_schedules_are_normalised(data, normal):
    assert validate_schedule(data) == normal


@pytest.mark.parametrize(("data", "message"), [
    ([], "must be an object"),
    ({"minutes": 5}, "Unknown schedule mode None"),
    ({"mode": "hourly"}, "Unknown schedule mode 'hourly'"),
    ({"mode": "interval", "minutes": 7}, "Interval 7 is not offered"),
    ({"mode": "interval", "minutes": True}, "Interval True is not offered"),
    ({"mode": "interval"}, "Interval None is not offered"),
    ({"mode": "interval", "minutes": 5, "times": []}, "Unexpected schedule fields: times"),
    (times(), "at least one time"),
    ({"mode": "times", "times": "09:00"}, "at least one time"),
    (times("24:00"), "'24:00' is not a time of day"),
    (times("12:60"), "'12:60' is not a time of day"),
    (times("12-00"), "'12-00' is not a time of day"),
    (times("9:5"), "'9:5' is not a time of day"),
    ({"mode": "times", "times": [900]}, "900 is not a time of day"),
    (times("09:00", "9:00"), "listed twice: 09:00"),
    (times(*(f"{hour:02d}:00" for hour in range(24)), "12:30"), "At most 24 times"),
    ({"mode": "after"}, "Choose the bundle"),
    ({"mode": "after", "bundle_id": 0}, "Choose the bundle"),
])
def test_invalid_schedules_say_what_is_wrong(data, message):
    with pytest.raises(ScheduleError, match=message):
        validate_schedule(data)


def test_twenty_four_times_are_allowed():
    listed = [f"{hour:02d}:00" for hour in range(24)]
    assert validate_schedule(times(*listed))["times"] == listed
