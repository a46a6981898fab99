"""/api/v1 silences (matchers and a time range) and maintenance windows, recurring or one-off; every change is
audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from ioc.api.clock import NowDep
from ioc.api.deps import ConnDep, Operator, Viewer
from ioc.api.errors import errors
from ioc.api.params import bad_parameter, rfc3339, word_list_pattern
from ioc.auth import Principal
from ioc.model import check_timezone

router = APIRouter(tags=["silences"])

_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
SILENCE_STATES = ("active", "pending", "expired")


def _check_matchers(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("needs at least one label: value pair (an empty set would silence everything)")
    for key, text in value.items():
        if not _LABEL_RE.match(key):
            raise ValueError(f"label name {key!r} does not match {_LABEL_RE.pattern}")
        if not text:
            raise ValueError(f"label {key!r} needs a non-empty value")
    return value


def _scope(principal: Principal, matchers: dict[str, str]) -> None:
    """A key bound to an agency may only mute that agency's alerts."""
    if principal.agency is not None and matchers.get("agency") != principal.agency:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a key bound to agency {principal.agency!r} needs the matcher agency={principal.agency}",
        )


def _visible(principal: Principal, matchers: dict[str, str]) -> bool:
    return principal.agency is None or matchers.get("agency") == principal.agency


def _audit(conn: ConnDep, principal: Principal, action: str, target: str, detail: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (principal.actor, action, target, Jsonb(detail)),
    )


# -- silences --------------------------------------------------------------------------------------


# What _check_matchers accepts, for the OpenAPI schema.
_MATCHERS_SCHEMA: dict[str, Any] = {
    "minProperties": 1,
    "propertyNames": {"pattern": _LABEL_RE.pattern},
    "additionalProperties": {"type": "string", "minLength": 1},
}


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown key is a mistake, said so

    matchers: dict[str, str] = Field(json_schema_extra=_MATCHERS_SCHEMA)
    starts_at: AwareDatetime | None = Field(None, description="RFC 3339 with offset; default now")
    ends_at: AwareDatetime
    created_by: str | None = Field(None, max_length=200, description="Who asks (default: the key's name)")
    comment: str = Field("", max_length=2000)

    _matchers = field_validator("matchers")(_check_matchers)


class SilenceOut(BaseModel):
    id: int
    matchers: dict[str, str]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    created_at: str
    state: str


_SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at"


def _silence_out(row: tuple[Any, ...], now: float) -> SilenceOut:
    starts, ends, expired = row[2].timestamp(), row[3].timestamp(), row[7]
    if expired is not None or ends <= now:
        state = "expired"
    elif starts > now:
        state = "pending"
    else:
        state = "active"
    return SilenceOut(
        id=row[0], matchers=row[1], starts_at=rfc3339(row[2]) or "", ends_at=rfc3339(row[3]) or "",
        created_by=row[4], comment=row[5], created_at=rfc3339(row[6]) or "", state=state,
    )  # fmt: skip


@router.post("/silences", response_model=SilenceOut, status_code=status.HTTP_201_CREATED, responses=errors(400, 403))
def create_silence(conn: ConnDep, principal: Operator, now: NowDep, body: SilenceIn) -> SilenceOut:
    """Mute alerts whose labels match every matcher, from starts_at (default now) until ends_at."""
    _scope(principal, body.matchers)
    starts = body.starts_at or datetime.fromtimestamp(now, UTC)
    if body.ends_at.timestamp() <= now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at is in the past")
    if body.ends_at <= starts:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at must be after starts_at")
    created_by = (body.created_by or "").strip() or principal.actor
    with conn.transaction():
        row = conn.execute(
            f"INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment) VALUES (%s, %s, %s, %s, %s) "
            f"RETURNING {_SILENCE_COLUMNS}",
            (Jsonb(body.matchers), starts, body.ends_at, created_by, body.comment),
        ).fetchone()
        assert row is not None
        _audit(
            conn, principal, "silence.create", f"silence/{row[0]}",
            {"matchers": body.matchers, "starts_at": rfc3339(starts), "ends_at": rfc3339(body.ends_at),
             "created_by": created_by, "comment": body.comment},
        )  # fmt: skip
    return _silence_out(row, now)


@router.get("/silences", response_model=list[SilenceOut])
def list_silences(
    conn: ConnDep,
    principal: Viewer,
    now: NowDep,
    state: Annotated[
        str | None,
        Query(
            description="Comma-separated: active, pending, expired",
            json_schema_extra={"pattern": word_list_pattern(SILENCE_STATES)},
        ),
    ] = None,
) -> list[SilenceOut]:
    wanted = set(SILENCE_STATES[:2]) if state is None else {s.strip() for s in state.split(",") if s.strip()}
    unknown = sorted(wanted - set(SILENCE_STATES))
    if unknown or not wanted:
        got = ", ".join(unknown) or "(none)"
        raise bad_parameter("state", f"unknown state {got} (expected {', '.join(SILENCE_STATES)})")
    rows = conn.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY id DESC LIMIT 5000").fetchall()
    out = [_silence_out(r, now) for r in rows if _visible(principal, r[1])]
    return [s for s in out if s.state in wanted]


@router.delete("/silences/{silence_id}", response_model=SilenceOut, responses=errors(403, 404))
def expire_silence(
    conn: ConnDep, principal: Operator, now: NowDep, silence_id: Annotated[int, Path(ge=1)]
) -> SilenceOut:
    """End a silence now (it stays listed as expired)."""
    row = conn.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = %s", (silence_id,)).fetchone()
    if row is None or not _visible(principal, row[1]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown silence {silence_id}")
    with conn.transaction():
        row = conn.execute(
            f"UPDATE silences SET expired_at = coalesce(expired_at, %s) WHERE id = %s RETURNING {_SILENCE_COLUMNS}",
            (datetime.fromtimestamp(now, UTC), silence_id),
        ).fetchone()
        assert row is not None
        _audit(conn, principal, "silence.expire", f"silence/{silence_id}", {"matchers": row[1]})
    return _silence_out(row, now)


# -- maintenance windows -----------------------------------------------------------------------------


class WindowIn(BaseModel):
    """Recurring (`weekdays`, `start_time`, `duration`, `timezone`) or one-off (`starts_at`, `ends_at`)."""

    model_config = ConfigDict(extra="forbid")  # an unknown key is a mistake, said so

    matchers: dict[str, str] = Field(json_schema_extra=_MATCHERS_SCHEMA)
    weekdays: list[int] | None = Field(None, description="ISO weekdays, 1 = Monday ... 7 = Sunday")
    start_time: time | None = Field(None, description="Local start time, HH:MM")
    duration: str | float | None = Field(None, description="How long: seconds, or 30m, 2h, 1d")
    timezone: str = "Asia/Ho_Chi_Minh"
    starts_at: AwareDatetime | None = Field(None, description="One-off: RFC 3339 with offset (may be past)")
    ends_at: AwareDatetime | None = Field(None, description="One-off: RFC 3339 with offset, after starts_at")
    created_by: str | None = Field(None, max_length=200)
    comment: str = Field("", max_length=2000)

    _matchers = field_validator("matchers")(_check_matchers)

    @field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or any(not 1 <= d <= 7 for d in value):
            raise ValueError("must be a non-empty list of ISO weekdays from 1 (Monday) to 7 (Sunday)")
        return sorted(set(value))

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | float | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):
            match = _DURATION_RE.match(value.strip())
            if not match:
                raise ValueError(f"{value!r} is not a duration such as 3600, 30m, 2h or 1d")
            value = float(match.group(1)) * _UNITS[match.group(2)]
        if not 0 < value <= 7 * 86400:
            raise ValueError("must be longer than 0 and at most 7 days")
        return float(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    def form_problems(self) -> list[str]:
        """What is missing or mixed between the two forms, each naming the field."""
        recurring = {"weekdays": self.weekdays, "start_time": self.start_time, "duration": self.duration}
        one_off = {"starts_at": self.starts_at, "ends_at": self.ends_at}
        given_r = [k for k, v in recurring.items() if v is not None]
        given_o = [k for k, v in one_off.items() if v is not None]
        if given_r and given_o:
            return [
                f"body field {k!r}: not with {', '.join(given_o)} (a window is recurring or one-off)" for k in given_r
            ]
        if given_o:
            problems = [f"body field {k!r}: Field required for a one-off window" for k in one_off if k not in given_o]
            if (
                not problems
                and self.ends_at is not None
                and self.starts_at is not None
                and self.ends_at <= self.starts_at
            ):
                problems.append("body field 'ends_at': must be after starts_at")
            return problems
        missing = [k for k in recurring if k not in given_r]
        if len(missing) == len(recurring):
            return ["body: give weekdays, start_time and duration (recurring) or starts_at and ends_at (one-off)"]
        return [f"body field {k!r}: Field required for a recurring window" for k in missing]


class WindowOut(BaseModel):
    id: int
    matchers: dict[str, str]
    weekdays: list[int] | None
    start_time: str | None
    duration_s: float | None
    timezone: str
    starts_at: str | None
    ends_at: str | None
    created_by: str
    comment: str
    created_at: str


_WINDOW_COLUMNS = (
    "id, matchers, weekdays, start_time, duration, timezone, created_by, comment, created_at, starts_at, ends_at"
)


def _window_out(row: tuple[Any, ...]) -> WindowOut:
    duration: timedelta | None = row[4]
    return WindowOut(
        id=row[0], matchers=row[1], weekdays=list(row[2]) if row[2] is not None else None,
        start_time=row[3].strftime("%H:%M") if row[3] is not None else None,
        duration_s=duration.total_seconds() if duration is not None else None, timezone=row[5],
        starts_at=rfc3339(row[9]), ends_at=rfc3339(row[10]),
        created_by=row[6], comment=row[7], created_at=rfc3339(row[8]) or "",
    )  # fmt: skip


@router.post(
    "/maintenance-windows", response_model=WindowOut, status_code=status.HTTP_201_CREATED, responses=errors(400, 403)
)
def create_window(conn: ConnDep, principal: Operator, body: WindowIn) -> WindowOut:
    """A recurring window (e.g. every Sunday 22:00 for 2h) or a one-off one (a time range, which may lie in
    the past: planned work recorded late); matching alerts send no message and uptime leaves it out."""
    problems = body.form_problems()
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(problems))
    _scope(principal, body.matchers)
    created_by = (body.created_by or "").strip() or principal.actor
    duration = timedelta(seconds=float(body.duration)) if body.duration is not None else None
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO maintenance_windows (matchers, weekdays, start_time, duration, timezone, created_by, "
            f"comment, starts_at, ends_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_WINDOW_COLUMNS}",
            (
                Jsonb(body.matchers), body.weekdays, body.start_time, duration,
                body.timezone, created_by, body.comment, body.starts_at, body.ends_at,
            ),
        ).fetchone()  # fmt: skip
        assert row is not None
        out = _window_out(row)
        _audit(conn, principal, "maintenance.create", f"maintenance/{out.id}", out.model_dump())
    return out


@router.get("/maintenance-windows", response_model=list[WindowOut])
def list_windows(conn: ConnDep, principal: Viewer) -> list[WindowOut]:
    rows = conn.execute(f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows ORDER BY id").fetchall()
    return [_window_out(r) for r in rows if _visible(principal, r[1])]


@router.delete("/maintenance-windows/{window_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403, 404))
def delete_window(conn: ConnDep, principal: Operator, window_id: Annotated[int, Path(ge=1)]) -> None:
    row = conn.execute(f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE id = %s", (window_id,)).fetchone()
    if row is None or not _visible(principal, row[1]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown maintenance window {window_id}")
    with conn.transaction():
        conn.execute("DELETE FROM maintenance_windows WHERE id = %s", (window_id,))
        _audit(conn, principal, "maintenance.delete", f"maintenance/{window_id}", _window_out(row).model_dump())
