"""The inventory kept in the store: replaced whole in one transaction, read back as last loaded."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from ioc.inventory.model import Agency, Entity, Inventory, Site


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
