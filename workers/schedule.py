"""Auto-update schedules: validation and slot arithmetic, with no database and no clock.

A schedule is one of
    {}                                     no auto-update (manual runs, webhook events)
    {"mode": "interval", "minutes": 5}     every N minutes (1440 is "daily")
    {"mode": "times", "times": ["09:00"]}  fixed times of day in the account's time zone
    {"mode": "after", "bundle_id": 7}      only after bundle 7 (started by workers.outcomes)
Slots are aware UTC datetimes; local times are turned into instants with zoneinfo.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INTERVAL_MINUTES = (1, 5, 10, 15, 30, 60, 1440)
MAX_TIMES = 24
# The seed's rule: a time of day set less than 5 minutes ahead first fires tomorrow.
MIN_LEAD = timedelta(minutes=5)
TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MODES = ("interval", "times", "after")
TIMED_MODES = ("interval", "times")


class ScheduleError(ValueError):
    """A schedule that cannot be stored, with a message fit for the user."""


def validate_schedule(data: object) -> dict:
    """Return the schedule in its normal form, or raise ScheduleError saying what is wrong."""
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise ScheduleError("A schedule must be an object.")
    mode = data.get("mode")
    if mode not in MODES:
        raise ScheduleError(f"Unknown schedule mode {mode!r}: use one of {', '.join(MODES)}.")
    expected = {"interval": "minutes", "times": "times", "after": "bundle_id"}[mode]
    unexpected = sorted(set(data) - {"mode", expected})
    if unexpected:
        raise ScheduleError(f"Unexpected schedule fields: {', '.join(unexpected)}.")
    if mode == "interval":
        return {"mode": mode, "minutes": _interval_minutes(data.get("minutes"))}
    if mode == "times":
        return {"mode": mode, "times": _times_of_day(data.get("times"))}
    return {"mode": mode, "bundle_id": _bundle_id(data.get("bundle_id"))}


def _whole_number(value: object) -> int | None:
    """Read an int from a JSON number or a form's digit string; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _interval_minutes(value: object) -> int:
    minutes = _whole_number(value)
    if minutes not in INTERVAL_MINUTES:
        allowed = ", ".join(str(m) for m in INTERVAL_MINUTES)
        raise ScheduleError(f"Interval {value!r} is not offered: choose {allowed} minutes.")
    return minutes


def _times_of_day(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ScheduleError("List at least one time of day, like \"09:00\".")
    if len(value) > MAX_TIMES:
        raise ScheduleError(f"At most {MAX_TIMES} times of day; {len(value)} given.")
    normal = [_time_of_day(item) for item in value]
    duplicates = sorted({t for t in normal if normal.count(t) > 1})
    if duplicates:
        raise ScheduleError(f"Times of day listed twice: {', '.join(duplicates)}.")
    return sorted(normal)


def _time_of_day(value: object) -> str:
    match = TIME_OF_DAY.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ScheduleError(f"{value!r} is not a time of day in HH:MM form (00:00-23:59).")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _bundle_id(value: object) -> int:
    bundle_id = _whole_number(value)
    if not bundle_id:
        raise ScheduleError("Choose the bundle to run after.")
    return bundle_id


def zone(name: str | tzinfo | None) -> tzinfo:
    """Return the time zone of an IANA name; an unknown or empty name means UTC."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        # A bad stored zone must not stop the scheduler; UTC is the account default.
        return UTC


def first_slot(schedule: dict, now: datetime, tz: str | tzinfo | None) -> datetime | None:
    """Return when a schedule just switched on fires first; None when it has no slots."""
    mode = schedule.get("mode")
    if mode == "interval":
        return now + timedelta(minutes=schedule["minutes"])
    if mode == "times":
        return _next_time_of_day(schedule["times"], now + MIN_LEAD, zone(tz), inclusive=True)
    return None


def next_slot(schedule: dict, after_slot: datetime, now: datetime,
              tz: str | tzinfo | None) -> datetime:
    """Return the slot after one that just fired, skipping slots missed while down."""
    if schedule["mode"] == "interval":
        step = timedelta(minutes=schedule["minutes"])
        following = after_slot + step
        # After downtime the slot firing now is the one catch-up run: no burst of others.
        return following if following > now else now + step
    return _next_time_of_day(schedule["times"], max(after_slot, now), zone(tz), inclusive=False)


def _next_time_of_day(times: list[str], start: datetime, tz: tzinfo, *,
                      inclusive: bool) -> datetime:
    """Return the first listed local time at (or strictly after) `start`, as UTC."""
    today = start.astimezone(tz).date()
    # Yesterday and the day after tomorrow cover UTC offsets and DST shifts at midnight.
    candidates = (_instant(today + timedelta(days=offset), text, tz)
                  for offset in (-1, 0, 1, 2) for text in times)
    return min(c for c in candidates if c > start or (inclusive and c == start))


def _instant(day: date, text: str, tz: tzinfo) -> datetime:
    """Turn a local date and "HH:MM" into UTC.

    zoneinfo reads a time skipped by a DST jump with the offset before the jump (02:30
    becomes 03:30 summer time), and a repeated time as its first occurrence, so each listed
    time fires exactly once a day.
    """
    hours, minutes = (int(part) for part in text.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=tz).astimezone(UTC)
