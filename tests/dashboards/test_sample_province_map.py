"""The sample province places every site on the map: coordinates inside Thừa Thiên Huế, kept by the store."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ioc.inventory import parse_inventory, store_inventory

PROVINCE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "province.yaml"
# Thừa Thiên Huế lies within these bounds (WGS 84).
LAT, LON = (15.9, 16.8), (107.0, 108.3)


def test_every_sample_site_has_coordinates_in_the_province(dsn):
    inventory = parse_inventory(PROVINCE.read_text(encoding="utf-8"), "province.yaml")
    assert len(inventory.sites) > 40
    for site in inventory.sites:
        lat, lon = site.attrs["lat"], site.attrs["lon"]
        assert LAT[0] < lat < LAT[1] and LON[0] < lon < LON[1], site
    assert len({(s.attrs["lat"], s.attrs["lon"]) for s in inventory.sites}) == len(inventory.sites)
    with psycopg.connect(dsn) as conn:
        store_inventory(conn, inventory)
        rows = conn.execute("SELECT id, lat, lon FROM ioc_views.sites WHERE lat IS NOT NULL").fetchall()
    assert {r[0] for r in rows} == {s.id for s in inventory.sites}
    assert dict((r[0], (r[1], r[2])) for r in rows)["xa-phu-vang"] == (16.5156, 107.6712)
