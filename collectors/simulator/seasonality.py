"""How busy a public administration office is at a given moment (0 = closed, about 1 = a busy hour).

Offices work 7:30-17:00 Monday to Friday, Asia/Ho_Chi_Minh. Citizens arrive in the morning, the lunch
break (11:30-13:30) empties the counters, and Monday mornings carry what piled up over the weekend.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

OPEN, CLOSE = time(7, 30), time(17, 0)
LUNCH_START, LUNCH_END = time(11, 30), time(13, 30)
MONDAY_PEAK_END = time(11, 30)
LUNCH_LEVEL = 0.25
MONDAY_PEAK = 1.4
NIGHT_LEVEL = 0.0


def _hours(t: time) -> float:
    return t.hour + t.minute / 60 + t.second / 3600


def activity(ts: float, tz: ZoneInfo = TZ) -> float:
    """Relative office activity at Unix time `ts`."""
    local = datetime.fromtimestamp(ts, tz)
    if local.weekday() >= 5:
        return NIGHT_LEVEL
    now = local.time()
    if now < OPEN or now >= CLOSE:
        return NIGHT_LEVEL
    h = _hours(now)
    if LUNCH_START <= now < LUNCH_END:
        return LUNCH_LEVEL
    if now < LUNCH_START:
        # Ramp up over the first hour, busiest mid-morning.
        level = min(1.0, 0.4 + 0.6 * (h - _hours(OPEN)))
        if local.weekday() == 0 and now < MONDAY_PEAK_END:
            level *= MONDAY_PEAK
        return level
    # Afternoon: a little quieter, tailing off in the last hour.
    return 0.85 if h < _hours(CLOSE) - 1 else 0.5


def background(ts: float, tz: ZoneInfo = TZ) -> float:
    """Activity that never stops: online services and network traffic keep a floor at night."""
    return 0.08 + activity(ts, tz)
