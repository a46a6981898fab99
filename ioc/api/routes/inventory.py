"""/api/v1 inventory: read it (viewer) and replace it (admin), in the format of contract section 3."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from psycopg.types.json import Jsonb

from ioc.api.deps import Admin, ConnDep, Viewer
from ioc.api.errors import errors
from ioc.inventory import Inventory, InventoryError, load_inventory_from_store, parse_inventory, store_inventory

router = APIRouter(tags=["inventory"])

MAX_INVENTORY_BYTES = 10 * 1024 * 1024
_SECTION = {"type": "array", "items": {"type": "object"}}
_BODY_DOC = {
    "content": {
        "application/yaml": {"schema": {"type": "string", "description": "the inventory file (contract section 3)"}},
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"agencies": _SECTION, "sites": _SECTION, "entities": _SECTION},
                "additionalProperties": False,
                "minProperties": 1,
                "description": "the same document as JSON; an empty one is refused",
            }
        },
    },
    "required": True,
}


def inventory_document(inventory: Inventory) -> dict[str, list[dict[str, Any]]]:
    """The inventory as the YAML/JSON document it was loaded from (optional keys left out when empty)."""
    entities = []
    for e in inventory.entities:
        entry: dict[str, Any] = {"kind": e.kind, "id": e.id, "name": e.name}
        optional = {"site": e.site, "agency": e.agency, "system": e.system, "interval_s": e.interval_s}
        entry.update({k: v for k, v in optional.items() if v is not None})
        if e.depends_on:
            entry["depends_on"] = list(e.depends_on)
        entry.update(e.attrs)
        entities.append(entry)
    return {
        "agencies": [{"id": a.id, "name": a.name, **a.attrs} for a in inventory.agencies],
        "sites": [
            {"id": s.id, "name": s.name, **({"parent": s.parent} if s.parent else {}), **s.attrs}
            for s in inventory.sites
        ],
        "entities": entities,
    }


@router.get("/inventory")
def get_inventory(principal: Viewer, conn: ConnDep) -> dict[str, list[dict[str, Any]]]:
    """The stored inventory; a key bound to an agency sees only that agency and its entities."""
    doc = inventory_document(load_inventory_from_store(conn))
    if principal.agency is not None:
        doc["agencies"] = [a for a in doc["agencies"] if a["id"] == principal.agency]
        doc["entities"] = [e for e in doc["entities"] if e.get("agency") == principal.agency]
    return doc


@router.put("/inventory", openapi_extra={"requestBody": _BODY_DOC}, responses=errors(400, 403, 413))
async def put_inventory(request: Request, principal: Admin, conn: ConnDep) -> dict[str, int]:
    """Replace the inventory with the YAML or JSON body; every problem is reported, naming entry and key."""
    body = await request.body()
    if len(body) > MAX_INVENTORY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"inventory over {MAX_INVENTORY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not UTF-8: {exc}") from None
    try:
        inventory = parse_inventory(text, "body")
    except InventoryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(exc.problems)) from None
    return await run_in_threadpool(_store, conn, inventory, principal.actor)


def _store(conn: psycopg.Connection, inventory: Inventory, actor: str) -> dict[str, int]:
    counts = store_inventory(conn, inventory)
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, 'inventory.put', 'inventory', %s)",
        (actor, Jsonb(counts)),
    )
    conn.commit()
    return counts
