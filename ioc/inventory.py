"""The inventory of contract section 3: agencies, sites and entities, validated and kept in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg.types.json import Jsonb

from ioc.model import ENTITY_ID_RE, KINDS, parse_entity_ref

_SECTIONS = ("agencies", "sites", "entities")
STATUS_PAGES = ("public", "private")  # an agency's `status_page` (contract section 7)
_ENTITY_KEYS = {"kind", "id", "name", "site", "agency", "system", "depends_on", "interval_s"}


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)  # status_page, ...

    @property
    def public(self) -> bool:
        return self.attrs.get("status_page", "public") != "private"


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    parent: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    kind: str
    id: str
    name: str
    site: str | None = None
    agency: str | None = None
    system: str | None = None
    depends_on: tuple[str, ...] = ()
    interval_s: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)  # url, capacity_bps, probe settings, ...

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.id}"


@dataclass(frozen=True)
class Inventory:
    agencies: tuple[Agency, ...] = ()
    sites: tuple[Site, ...] = ()
    entities: tuple[Entity, ...] = ()

    def entity(self, kind: str, entity_id: str) -> Entity | None:
        return next((e for e in self.entities if e.kind == kind and e.id == entity_id), None)


class InventoryError(ValueError):
    """Every problem found in an inventory file, each naming the file, the entry and the key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Checker:
    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")

    def text(self, where: str, entry: dict[str, Any], key: str, *, required: bool) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.fail(f"{where}.{key}", "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{where}.{key}", f"must be a non-empty string, not {value!r}")
            return None
        return value

    def ident(self, where: str, entry: dict[str, Any], key: str, *, required: bool) -> str | None:
        value = self.text(where, entry, key, required=required)
        if value is not None and not ENTITY_ID_RE.match(value):
            self.fail(f"{where}.{key}", f"{value!r} does not match {ENTITY_ID_RE.pattern}")
            return None
        return value


def parse_inventory(text: str, source: str = "<inventory>") -> Inventory:
    """Parse and validate inventory YAML; raises InventoryError listing every problem."""
    check = _Checker(source)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise InventoryError([f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if doc is None or doc == {}:
        # Storing it would remove every agency, site and entity of the province.
        raise InventoryError([f"{source}: top level: the inventory is empty; it needs {', '.join(_SECTIONS)}"])
    if not isinstance(doc, dict):
        raise InventoryError([f"{source}: top level: must be a mapping with {', '.join(_SECTIONS)}"])
    for key in doc:
        if key not in _SECTIONS:
            check.fail(str(key), f"unknown section (expected {', '.join(_SECTIONS)})")
    sections: dict[str, list[Any]] = {}
    for section in _SECTIONS:
        value = doc.get(section) or []
        if not isinstance(value, list):
            check.fail(section, "must be a list")
            value = []
        sections[section] = value

    agencies: list[Agency] = []
    for i, entry in enumerate(sections["agencies"]):
        where = f"agencies[{i}]"
        if not isinstance(entry, dict):
            check.fail(where, "must be a mapping")
            continue
        ident = check.ident(where, entry, "id", required=True)
        name = check.text(where, entry, "name", required=True)
        page = entry.get("status_page", "public")
        if page not in STATUS_PAGES:
            check.fail(f"{where}.status_page", f"must be public or private, not {page!r}")
        if ident and name:
            extra = {k: v for k, v in entry.items() if k not in ("id", "name")}
            agencies.append(Agency(ident, name, extra))

    sites: list[Site] = []
    for i, entry in enumerate(sections["sites"]):
        where = f"sites[{i}]"
        if not isinstance(entry, dict):
            check.fail(where, "must be a mapping")
            continue
        ident = check.ident(where, entry, "id", required=True)
        name = check.text(where, entry, "name", required=True)
        parent = check.ident(where, entry, "parent", required=False)
        for key, limit in (("lat", 90.0), ("lon", 180.0)):
            value = entry.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit
            ):
                check.fail(
                    f"{where}.{key}", f"must be WGS 84 decimal degrees in [-{limit:g}, {limit:g}], not {value!r}"
                )
        if ("lat" in entry) != ("lon" in entry):
            check.fail(where, "lat and lon go together")
        if ident and name:
            extra = {k: v for k, v in entry.items() if k not in ("id", "name", "parent")}
            sites.append(Site(ident, name, parent, extra))

    entities: list[Entity] = []
    for i, entry in enumerate(sections["entities"]):
        where = f"entities[{i}]"
        if not isinstance(entry, dict):
            check.fail(where, "must be a mapping")
            continue
        if isinstance(entry.get("id"), str):
            where = f"entities[{i}] ({entry.get('kind')}/{entry['id']})"
        kind = check.text(where, entry, "kind", required=True)
        if kind is not None and kind not in KINDS:
            check.fail(f"{where}.kind", f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
            kind = None
        ident = check.ident(where, entry, "id", required=True)
        name = check.text(where, entry, "name", required=True)
        site = check.ident(where, entry, "site", required=False)
        agency = check.ident(where, entry, "agency", required=False)
        system = check.text(where, entry, "system", required=False)
        depends = entry.get("depends_on") or []
        refs: list[str] = []
        if not isinstance(depends, list):
            check.fail(f"{where}.depends_on", "must be a list of kind/id references")
        else:
            for j, ref in enumerate(depends):
                try:
                    if not isinstance(ref, str):
                        raise ValueError(f"{ref!r} is not a kind/id string")
                    parse_entity_ref(ref)
                    refs.append(ref)
                except ValueError as exc:
                    check.fail(f"{where}.depends_on[{j}]", str(exc))
        interval = entry.get("interval_s")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval <= 86400
        ):
            check.fail(f"{where}.interval_s", f"must be a number of seconds in (0, 86400], not {interval!r}")
            interval = None
        if kind and ident and name:
            extra = {k: v for k, v in entry.items() if k not in _ENTITY_KEYS}
            entities.append(Entity(kind, ident, name, site, agency, system, tuple(refs), interval, extra))

    if not any(sections.values()) and not check.problems:
        check.fail("top level", "the inventory is empty: agencies, sites and entities are all missing or empty")
    _check_references(check, agencies, sites, entities)
    if check.problems:
        raise InventoryError(check.problems)
    return Inventory(tuple(agencies), tuple(sites), tuple(entities))


def _check_references(check: _Checker, agencies: list[Agency], sites: list[Site], entities: list[Entity]) -> None:
    for label, items in (("agencies", agencies), ("sites", sites)):
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                check.fail(f"{label} ({item.id})", "duplicate id")
            seen.add(item.id)
    site_ids = {s.id for s in sites}
    agency_ids = {a.id for a in agencies}
    for site in sites:
        if site.parent and site.parent not in site_ids:
            check.fail(f"sites ({site.id}).parent", f"unknown site {site.parent!r}")
    refs: set[str] = set()
    for entity in entities:
        if entity.ref in refs:
            check.fail(f"entities ({entity.ref})", "duplicate kind/id")
        refs.add(entity.ref)
    for entity in entities:
        where = f"entities ({entity.ref})"
        if entity.site and entity.site not in site_ids:
            check.fail(f"{where}.site", f"unknown site {entity.site!r}")
        if entity.agency and entity.agency not in agency_ids:
            check.fail(f"{where}.agency", f"unknown agency {entity.agency!r}")
        for dep in entity.depends_on:
            if dep not in refs:
                check.fail(f"{where}.depends_on", f"unknown entity {dep!r}")
            elif dep == entity.ref:
                check.fail(f"{where}.depends_on", "an entity cannot depend on itself")
    cycle = _find_cycle({e.ref: e.depends_on for e in entities})
    if cycle:
        check.fail("entities", "depends_on forms a cycle: " + " -> ".join(cycle))


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def read_inventory(path: Path) -> Inventory:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError([f"{path}: cannot read: {exc}"]) from None
    return parse_inventory(text, str(path))


def store_inventory(conn: psycopg.Connection, inventory: Inventory) -> dict[str, int]:
    """Replace the stored inventory with this one in one transaction; entities heard on the wire but
    not listed are kept as unassigned, with their history."""
    with conn.transaction():
        conn.execute("DELETE FROM agencies")
        conn.execute("DELETE FROM sites")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO agencies (id, name, attrs) VALUES (%s, %s, %s)",
                [(a.id, a.name, Jsonb(a.attrs)) for a in inventory.agencies],
            )
            cur.executemany(
                "INSERT INTO sites (id, name, parent, attrs) VALUES (%s, %s, %s, %s)",
                [(s.id, s.name, s.parent, Jsonb(s.attrs)) for s in inventory.sites],
            )
            conn.execute("UPDATE entities SET assigned = false WHERE assigned")
            cur.executemany(
                """
                INSERT INTO entities (kind, id, name, site, agency, system, depends_on, interval_s, attrs,
                                      assigned)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, true)
                ON CONFLICT (kind, id) DO UPDATE SET
                    name = excluded.name, site = excluded.site, agency = excluded.agency,
                    system = excluded.system, depends_on = excluded.depends_on,
                    interval_s = excluded.interval_s, attrs = excluded.attrs, assigned = true
                """,
                [
                    (e.kind, e.id, e.name, e.site, e.agency, e.system, list(e.depends_on), e.interval_s,
                     Jsonb(e.attrs))
                    for e in inventory.entities
                ],
            )  # fmt: skip
    return {
        "agencies": len(inventory.agencies),
        "sites": len(inventory.sites),
        "entities": len(inventory.entities),
    }


def load_inventory_from_store(conn: psycopg.Connection) -> Inventory:
    """The inventory as last loaded (assigned entities only)."""
    agencies = tuple(Agency(r[0], r[1], r[2]) for r in conn.execute("SELECT id, name, attrs FROM agencies ORDER BY id"))
    sites = tuple(
        Site(r[0], r[1], r[2], r[3]) for r in conn.execute("SELECT id, name, parent, attrs FROM sites ORDER BY id")
    )
    entities = tuple(
        Entity(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6]), r[7], r[8])
        for r in conn.execute(
            "SELECT kind, id, name, site, agency, system, depends_on, interval_s, attrs "
            "FROM entities WHERE assigned ORDER BY kind, id"
        )
    )
    return Inventory(agencies, sites, entities)
