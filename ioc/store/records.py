"""Audit log, dead letters and events read back page by page, newest first, scoped by agency.

A page is `limit` records with ids below `before_id` (none: the newest); the next page's `before_id`
is the last id of this one. An agency-bound reader sees only what concerns that agency's entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

MAX_LIMIT = 1000
PAYLOAD_PREVIEW_BYTES = 4096


@dataclass(frozen=True)
class Page:
    limit: int = 100
    before_id: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: bytes  # at most PAYLOAD_PREVIEW_BYTES of it
    size: int
    kind: str | None
    entity: str | None

    @property
    def truncated(self) -> bool:
        return self.size > len(self.payload)


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    entity: str
    ts: datetime
    type: str
    severity: str
    message: str
    attrs: dict[str, Any]
    received_at: datetime


def _paged(where: list[str], params: dict[str, object], page: Page, id_column: str) -> str:
    if page.before_id is not None:
        where.append(f"{id_column} < %(before_id)s")
        params["before_id"] = page.before_id
    params["limit"] = page.limit
    return (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {id_column} DESC LIMIT %(limit)s"


def _equal(where: list[str], params: dict[str, object], alias: str, **values: str | None) -> None:
    """A condition `{alias}.{column} = value` for each value given (None: any)."""
    for column, value in values.items():
        if value is not None:
            where.append(f"{alias}.{column} = %({column})s")
            params[column] = value


# An audit record concerns an agency when its alert is that agency's, when the silence or window it
# changed matches that agency, or when the key or user it names is bound to it.
_AUDIT_AGENCY = """(
    (a.target LIKE 'alert/%%' AND EXISTS (
        SELECT 1 FROM alerts x WHERE x.id::text = substr(a.target, 7) AND x.agency = %(agency)s))
    OR a.detail -> 'matchers' ->> 'agency' = %(agency)s
    OR a.detail ->> 'agency' = %(agency)s
)"""


def audit_records(
    conn: psycopg.Connection,
    page: Page,
    *,
    agency: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
) -> list[AuditRecord]:
    where: list[str] = []
    params: dict[str, object] = {"agency": agency}
    if agency is not None:
        where.append(_AUDIT_AGENCY)
    _equal(where, params, "a", action=action, actor=actor, target=target)
    sql = "SELECT a.id, a.at, a.actor, a.action, a.target, a.detail FROM audit_log a" + _paged(
        where, params, page, "a.id"
    )
    return [AuditRecord(*r) for r in conn.execute(sql, params)]


def dead_letters(
    conn: psycopg.Connection,
    page: Page,
    topic_prefix: str,
    *,
    agency: str | None = None,
    reason: str | None = None,
    kind: str | None = None,
    entity: str | None = None,
) -> list[DeadLetter]:
    """Dead letters; the entity is the one in the topic `{prefix}/{family}/{kind}/{id}`, when it has one."""
    params: dict[str, object] = {"head": topic_prefix + "/", "agency": agency}
    where: list[str] = []
    if agency is not None:
        where.append("e.agency = %(agency)s")
    _equal(where, params, "d", reason=reason)
    _equal(where, params, "t", kind=kind, entity=entity)
    sql = (
        "SELECT d.id, d.received_at, d.topic, d.reason, d.detail, substring(d.payload FROM 1 FOR "
        f"{PAYLOAD_PREVIEW_BYTES}), length(d.payload), t.kind, t.entity FROM dead_letters d "
        "CROSS JOIN LATERAL (SELECT CASE WHEN starts_with(d.topic, %(head)s) "
        "THEN substr(d.topic, length(%(head)s) + 1) END AS rest) r "
        "CROSS JOIN LATERAL (SELECT nullif(split_part(r.rest, '/', 2), '') AS kind, "
        "nullif(split_part(r.rest, '/', 3), '') AS entity) t "
        "LEFT JOIN entities e ON e.kind = t.kind AND e.id = t.entity"
    ) + _paged(where, params, page, "d.id")
    return [DeadLetter(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8]) for r in conn.execute(sql, params)]


def events(
    conn: psycopg.Connection,
    page: Page,
    *,
    agency: str | None = None,
    kind: str | None = None,
    entity: str | None = None,
    severity: str | None = None,
) -> list[Event]:
    params: dict[str, object] = {}
    where: list[str] = []
    joined = ""
    if agency is not None:
        joined = " JOIN entities e ON e.kind = v.kind AND e.id = v.entity"
        where.append("e.agency = %(agency)s")
        params["agency"] = agency
    _equal(where, params, "v", kind=kind, entity=entity, severity=severity)
    sql = (
        "SELECT v.id, v.kind, v.entity, v.ts, v.type, v.severity, v.message, v.attrs, v.received_at FROM events v"
        + joined
        + _paged(where, params, page, "v.id")
    )
    return [Event(*r) for r in conn.execute(sql, params)]


def escape_payload(payload: bytes) -> str:
    """A payload as text that is safe to show: UTF-8 as is; bytes that are not UTF-8 as \\xNN (always >= 80),
    ASCII controls as \\xNN, other unprintable characters as \\uNNNN or \\UNNNNNNNN, a backslash as two
    (so no escape can be forged and the text maps back to the bytes); newlines and tabs kept."""
    out = []
    for c in payload.decode("utf-8", errors="surrogateescape"):
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif c == "\\":
            out.append("\\\\")
        elif c in "\n\t" or c.isprintable():
            out.append(c)
        elif code < 0x80:  # an ASCII control: \xNN, which is unambiguous as bytes not UTF-8 are >= 0x80
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)
