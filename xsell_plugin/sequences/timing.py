"""When a step may go out: delays, the customer's local time, quiet hours, send-time windows.

Pure: every function takes the instant and the time zone name. A local time is the customer's
time zone when we know it, else the store's. Quiet hours ``[quiet_start, quiet_end)`` wrap
midnight (21 -> 8 means no email from 21:00 to 07:59); a step's window ``[start, end)`` narrows
that further (e.g. 10 -> 12 for a morning send).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache


@lru_cache(maxsize=256)
def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_zone_name(customer_timezone: str, store_timezone: str) -> str:
    """The customer's time zone when it is a real one, else the store's."""
    for name in (customer_timezone, store_timezone):
        if name:
            try:
                zoneinfo.ZoneInfo(name)
                return name
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC"


def _in_hours(hour: int, start: int, end: int) -> bool:
    """Is ``hour`` in [start, end), wrapping midnight when start > end? start == end: all day."""
    if start == end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def allowed_at(moment: datetime, tz_name: str, *, quiet_start: int, quiet_end: int,
               window_start: int | None = None, window_end: int | None = None) -> bool:
    local = moment.astimezone(zone(tz_name))
    if quiet_start != quiet_end and _in_hours(local.hour, quiet_start, quiet_end):
        return False
    if window_start is not None and window_end is not None:
        return _in_hours(local.hour, window_start, window_end)
    return True


def next_allowed(moment: datetime, tz_name: str, *, quiet_start: int, quiet_end: int,
                 window_start: int | None = None, window_end: int | None = None) -> datetime:
    """The first instant at or after ``moment`` when sending is allowed (hour granularity: a
    send moved out of quiet hours goes at the top of the first allowed local hour)."""
    kwargs = {"quiet_start": quiet_start, "quiet_end": quiet_end, "window_start": window_start,
              "window_end": window_end}
    if allowed_at(moment, tz_name, **kwargs):
        return moment
    tz = zone(tz_name)
    local = moment.astimezone(tz)
    day = local.date()
    # Walk local wall-clock hours (DST-safe: each candidate is re-localised) for up to 8 days.
    for offset in range(1, 24 * 8 + 1):
        hour_index = local.hour + offset
        candidate_day = day + timedelta(days=hour_index // 24)
        wall = datetime.combine(candidate_day, time(hour_index % 24), tzinfo=tz)
        instant = wall.astimezone(UTC)
        if instant >= moment and allowed_at(instant, tz_name, **kwargs):
            return instant
    return moment  # no allowed hour at all (a misconfigured window): do not hold the send


def step_due_at(base: datetime, delay: timedelta, tz_name: str, *, quiet_start: int,
                quiet_end: int, window_start: int | None = None,
                window_end: int | None = None, not_before: datetime | None = None) -> datetime:
    """``base + delay``, moved to the first allowed local time (and not before ``not_before``)."""
    candidate = base + delay
    if not_before is not None and candidate < not_before:
        candidate = not_before
    return next_allowed(candidate, tz_name, quiet_start=quiet_start, quiet_end=quiet_end,
                        window_start=window_start, window_end=window_end)


def local_day(moment: datetime, tz_name: str):
    return moment.astimezone(zone(tz_name)).date()


def next_local_midnight(moment: datetime, tz_name: str) -> datetime:
    tz = zone(tz_name)
    day = moment.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
