"""The inventory of contract section 3 as data: agencies, sites and entities, and the error that lists
every problem of a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUS_PAGES = ("public", "private")  # an agency's `status_page` (contract section 7)


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
