"""Reading and validating an inventory file (contract sections 3 and 7).

Each entry is validated by a pydantic model; its errors are translated into the inventory's own
messages, each naming the file, the entry and the key (`inventory.yaml: entities[0] (kiosk/k1).name: is
required`). References between entries (sites, agencies, `depends_on`, cycles) are checked across the
file afterwards. Every problem is reported together, and a file with any is refused whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from ioc.inventory.model import STATUS_PAGES, Agency, Entity, Inventory, InventoryError, Site
from ioc.model import ENTITY_ID_RE, KINDS, parse_entity_ref

SECTIONS = ("agencies", "sites", "entities")
ENTITY_KEYS = ("kind", "id", "name", "site", "agency", "system", "depends_on", "interval_s")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, not {value!r}")
    return value


def _ident(value: Any) -> str:
    text = _text(value)
    if not ENTITY_ID_RE.match(text):
        raise ValueError(f"{text!r} does not match {ENTITY_ID_RE.pattern}")
    return text


def _optional(check: Any) -> Any:
    return lambda value: None if value is None else check(value)


class _Entry(BaseModel):
    """Unknown keys are kept (as attributes); `None` stands for a key that is absent."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AgencyEntry(_Entry):
    id: str
    name: str
    status_page: str = "public"

    _id = field_validator("id", mode="before")(_ident)
    _name = field_validator("name", mode="before")(_text)

    @field_validator("status_page", mode="before")
    @classmethod
    def _page(cls, value: Any) -> str:
        if value not in STATUS_PAGES:
            raise ValueError(f"must be public or private, not {value!r}")
        return str(value)


class SiteEntry(_Entry):
    id: str
    name: str
    parent: str | None = None
    lat: float | None = None
    lon: float | None = None

    _id = field_validator("id", mode="before")(_ident)
    _name = field_validator("name", mode="before")(_text)
    _parent = field_validator("parent", mode="before")(_optional(_ident))

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _degrees(cls, value: Any, info: Any) -> float | None:
        limit = 90.0 if info.field_name == "lat" else 180.0
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
            raise ValueError(f"must be WGS 84 decimal degrees in [-{limit:g}, {limit:g}], not {value!r}")
        return float(value)

    @model_validator(mode="after")
    def _pair(self) -> SiteEntry:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        return self


class EntityEntry(_Entry):
    kind: str
    id: str
    name: str
    site: str | None = None
    agency: str | None = None
    system: str | None = None
    depends_on: list[str] | None = None
    interval_s: float | None = None

    _id = field_validator("id", mode="before")(_ident)
    _name = field_validator("name", mode="before")(_text)
    _site = field_validator("site", mode="before")(_optional(_ident))
    _agency = field_validator("agency", mode="before")(_optional(_ident))
    _system = field_validator("system", mode="before")(_optional(_text))

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> str:
        text = _text(value)
        if text not in KINDS:
            raise ValueError(f"unknown kind {text!r} (expected one of {', '.join(KINDS)})")
        return text

    @field_validator("depends_on", mode="before")
    @classmethod
    def _depends(cls, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of kind/id references")
        problems = []
        for j, ref in enumerate(value):
            try:
                if not isinstance(ref, str):
                    raise ValueError(f"{ref!r} is not a kind/id string")
                parse_entity_ref(ref)
            except ValueError as exc:
                problems.append((j, str(exc)))
        if problems:
            # One message per bad reference, split again by the translation below.
            raise ValueError("\x00".join(f"[{j}]\x01{message}" for j, message in problems))
        return list(value)

    @field_validator("interval_s", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ValueError(f"must be a number of seconds in (0, 86400], not {value!r}")
        return float(value)


def _problems(error: ValidationError, where: str) -> list[tuple[str, str]]:
    """(where.key, message) for each of a model's errors, in the inventory's own words."""
    out = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"])
        place = f"{where}.{key}" if key else where
        if e["type"] == "missing":
            out.append((place, "is required"))
            continue
        message = str(e["msg"]).removeprefix("Value error, ")
        if "\x01" in message:
            for part in message.split("\x00"):
                index, text = part.split("\x01", 1)
                out.append((place + index, text))
        else:
            out.append((place, message))
    return out


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_text(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(key path, message) for each key or string PostgreSQL cannot store: YAML's "\\0" and "\\ud800" escapes
    make a NUL or a lone surrogate, which would fail the whole load later with no name on it."""
    if isinstance(value, dict):
        for key, item in value.items():
            shown = str(key) if _PLAIN_KEY.match(str(key)) else repr(key)
            where = f"{path}.{shown}" if path else shown
            if isinstance(key, str) and _UNSTORABLE.search(key):
                yield where, "the key holds a NUL character or a lone surrogate, which cannot be stored"
            yield from _unstorable_text(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{i}]")
    elif isinstance(value, str) and _UNSTORABLE.search(value):
        yield path, "holds a NUL character or a lone surrogate, which cannot be stored"


def _entry_where(section: str, i: int, entry: dict[str, Any]) -> str:
    ident, kind = entry.get("id"), entry.get("kind")
    if section == "entities" and isinstance(ident, str) and _PLAIN_KEY.match(ident) and _PLAIN_KEY.match(str(kind)):
        return f"entities[{i}] ({kind}/{ident})"
    return f"{section}[{i}]"


def parse_inventory(text: str, source: str = "<inventory>") -> Inventory:
    """Parse and validate inventory YAML; raises InventoryError listing every problem."""
    problems: list[str] = []

    def fail(where: str, message: str) -> None:
        problems.append(f"{source}: {where}: {message}")

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise InventoryError([f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if doc is None or doc == {}:
        # Storing it would remove every agency, site and entity of the province.
        raise InventoryError([f"{source}: top level: the inventory is empty; it needs {', '.join(SECTIONS)}"])
    if not isinstance(doc, dict):
        raise InventoryError([f"{source}: top level: must be a mapping with {', '.join(SECTIONS)}"])
    for key in doc:
        if key not in SECTIONS:
            shown = str(key) if _PLAIN_KEY.match(str(key)) else repr(key)  # an empty or odd key still shows
            fail(shown, f"unknown section (expected {', '.join(SECTIONS)})")
    sections: dict[str, list[Any]] = {}
    for section in SECTIONS:
        value = doc.get(section) or []
        if not isinstance(value, list):
            fail(section, "must be a list")
            value = []
        sections[section] = value

    agencies: list[Agency] = []
    sites: list[Site] = []
    entities: list[Entity] = []
    models: dict[str, type[_Entry]] = {"agencies": AgencyEntry, "sites": SiteEntry, "entities": EntityEntry}
    for section, model in models.items():
        for i, entry in enumerate(sections[section]):
            if not isinstance(entry, dict):
                fail(f"{section}[{i}]", "must be a mapping")
                continue
            where = _entry_where(section, i, entry)
            unstorable = list(_unstorable_text(entry))
            for key, message in unstorable:
                fail(f"{where}.{key}", message)
            if unstorable:
                _keep_for_references(section, entry, agencies, sites, entities)
                continue
            try:
                parsed = model.model_validate({str(k): v for k, v in entry.items()})
            except ValidationError as exc:
                for place, message in _problems(exc, where):
                    fail(place, message)
                _keep_for_references(section, entry, agencies, sites, entities)
                continue
            if isinstance(parsed, AgencyEntry):
                attrs = {k: v for k, v in entry.items() if k not in ("id", "name")}
                agencies.append(Agency(parsed.id, parsed.name, attrs))
            elif isinstance(parsed, SiteEntry):
                attrs = {k: v for k, v in entry.items() if k not in ("id", "name", "parent")}
                sites.append(Site(parsed.id, parsed.name, parsed.parent, attrs))
            elif isinstance(parsed, EntityEntry):
                entities.append(
                    Entity(
                        parsed.kind, parsed.id, parsed.name, parsed.site, parsed.agency, parsed.system,
                        tuple(parsed.depends_on or ()), parsed.interval_s, parsed.attrs,
                    )
                )  # fmt: skip

    if not any(sections.values()) and not problems:
        fail("top level", "the inventory is empty: agencies, sites and entities are all missing or empty")
    _check_references(fail, agencies, sites, entities)
    if problems:
        raise InventoryError(problems)
    return Inventory(tuple(agencies), tuple(sites), tuple(entities))


def _keep_for_references(
    section: str, entry: dict[str, Any], agencies: list[Agency], sites: list[Site], entities: list[Entity]
) -> None:
    """An entry with a problem elsewhere still counts as existing for references, when its keys are sound,
    so one mistake is reported once (not again by every entry that refers to it)."""
    try:
        ident, name = _ident(entry.get("id")), _text(entry.get("name"))
        if section == "agencies":
            agencies.append(Agency(ident, name))
        elif section == "sites":
            sites.append(Site(ident, name))
        elif section == "entities":
            kind = EntityEntry._kind(entry.get("kind"))
            entities.append(Entity(kind, ident, name))
    except ValueError:
        pass


def _check_references(fail: Any, agencies: list[Agency], sites: list[Site], entities: list[Entity]) -> None:
    for label, items in (("agencies", agencies), ("sites", sites)):
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                fail(f"{label} ({item.id})", "duplicate id")
            seen.add(item.id)
    site_ids = {s.id for s in sites}
    agency_ids = {a.id for a in agencies}
    for site in sites:
        if site.parent and site.parent not in site_ids:
            fail(f"sites ({site.id}).parent", f"unknown site {site.parent!r}")
    refs: set[str] = set()
    for entity in entities:
        if entity.ref in refs:
            fail(f"entities ({entity.ref})", "duplicate kind/id")
        refs.add(entity.ref)
    for entity in entities:
        where = f"entities ({entity.ref})"
        if entity.site and entity.site not in site_ids:
            fail(f"{where}.site", f"unknown site {entity.site!r}")
        if entity.agency and entity.agency not in agency_ids:
            fail(f"{where}.agency", f"unknown agency {entity.agency!r}")
        for dep in entity.depends_on:
            if dep not in refs:
                fail(f"{where}.depends_on", f"unknown entity {dep!r}")
            elif dep == entity.ref:
                fail(f"{where}.depends_on", "an entity cannot depend on itself")
    cycle = _find_cycle({e.ref: e.depends_on for e in entities})
    if cycle:
        fail("entities", "depends_on forms a cycle: " + " -> ".join(cycle))


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
