from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.inventory import InventoryError, load_inventory_from_store, parse_inventory, store_inventory

CONTRACT_EXAMPLE = """
agencies:
  - {id: so-tttt, name: "Sở Thông tin và Truyền thông"}
sites:
  - {id: dc-tinh, name: "Trung tâm dữ liệu tỉnh"}
  - {id: hcc-tinh, name: "Trung tâm Phục vụ hành chính công tỉnh", parent: dc-tinh}
  - {id: xa-phu-vang, name: "UBND xã Phú Vang", parent: dc-tinh}
entities:
  - {kind: link, id: wan-xa-phu-vang, name: "Đường truyền xã Phú Vang", site: xa-phu-vang, capacity_bps: 100000000}
  - {kind: kiosk, id: kiosk-pv-01, name: "Kiosk lấy số 01", site: xa-phu-vang, agency: so-tttt,
     depends_on: [link/wan-xa-phu-vang], interval_s: 10}
  - {kind: service, id: dvc-portal, name: "Cổng Dịch vụ công tỉnh", system: dvc_portal, agency: so-tttt,
     site: dc-tinh, url: "https://dichvucong.example.gov.vn/"}
"""


def test_contract_example_parses() -> None:
    inv = parse_inventory(CONTRACT_EXAMPLE, "province.yaml")
    assert [a.name for a in inv.agencies] == ["Sở Thông tin và Truyền thông"]
    kiosk = inv.entity("kiosk", "kiosk-pv-01")
    assert kiosk is not None
    assert kiosk.depends_on == ("link/wan-xa-phu-vang",)
    assert kiosk.interval_s == 10
    portal = inv.entity("service", "dvc-portal")
    assert portal is not None and portal.system == "dvc_portal"
    assert portal.attrs == {"url": "https://dichvucong.example.gov.vn/"}
    link = inv.entity("link", "wan-xa-phu-vang")
    assert link is not None and link.attrs == {"capacity_bps": 100000000}


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "entities:\n  - {kind: printer, id: p1, name: P}\n",
            ["f.yaml: entities[0] (printer/p1).kind: unknown kind 'printer' (expected one of kiosk, link, service)"],
        ),
        (
            "entities:\n  - {kind: kiosk, id: Kiosk_01, name: K}\n",
            ["f.yaml: entities[0] (kiosk/Kiosk_01).id: 'Kiosk_01' does not match ^[a-z0-9][a-z0-9._-]{0,62}$"],
        ),
        ("entities:\n  - {kind: kiosk, id: k1}\n", ["f.yaml: entities[0] (kiosk/k1).name: is required"]),
        (
            "entities:\n  - {kind: kiosk, id: k1, name: K, site: nowhere}\n",
            ["f.yaml: entities (kiosk/k1).site: unknown site 'nowhere'"],
        ),
        (
            "entities:\n  - {kind: kiosk, id: k1, name: K, depends_on: [link/l9]}\n",
            ["f.yaml: entities (kiosk/k1).depends_on: unknown entity 'link/l9'"],
        ),
        (
            "entities:\n  - {kind: kiosk, id: k1, name: K, depends_on: [l9]}\n",
            ["f.yaml: entities[0] (kiosk/k1).depends_on[0]: 'l9' is not of the form kind/id"],
        ),
        (
            "entities:\n  - {kind: kiosk, id: k1, name: K, interval_s: -5}\n",
            ["f.yaml: entities[0] (kiosk/k1).interval_s: must be a number of seconds in (0, 86400], not -5"],
        ),
        (
            "entities:\n  - {kind: link, id: a, name: A, depends_on: [link/b]}\n"
            "  - {kind: link, id: b, name: B, depends_on: [link/a]}\n",
            ["f.yaml: entities: depends_on forms a cycle: link/a -> link/b -> link/a"],
        ),
        (
            "agencies:\n  - {id: a1, name: A}\n  - {id: a1, name: B}\n",
            ["f.yaml: agencies (a1): duplicate id"],
        ),
        ("kiosks: []\n", ["f.yaml: kiosks: unknown section (expected agencies, sites, entities)"]),
        ("entities: {a: 1}\n", ["f.yaml: entities: must be a list"]),
        ("- a\n- b\n", ["f.yaml: top level: must be a mapping with agencies, sites, entities"]),
        (
            "entities: [\n",
            ["f.yaml: line 2, column 1: not valid YAML: expected the node content, but found '<stream end>'"],
        ),
    ],
)
def test_every_error_names_file_entry_and_key(text: str, problems: list[str]) -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "f.yaml")
    assert info.value.problems == problems


def test_all_problems_are_reported_together() -> None:
    text = "entities:\n  - {kind: kiosk, id: k1}\n  - {kind: x, id: k2, name: K}\n"
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "f.yaml")
    assert len(info.value.problems) == 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_an_inventory_or_inventory_error(text: str) -> None:
    try:
        parse_inventory(text, "fuzz.yaml")
    except InventoryError as exc:
        assert all(p.startswith("fuzz.yaml: ") for p in exc.problems)


def test_store_round_trip_keeps_diacritics_and_unassigned(dsn: str) -> None:
    inv = parse_inventory(CONTRACT_EXAMPLE, "province.yaml")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO entities (kind, id, last_seen) VALUES ('kiosk', 'stray-01', now())")
        conn.commit()
        assert store_inventory(conn, inv) == {"agencies": 1, "sites": 3, "entities": 3}
        again = load_inventory_from_store(conn)
        assert again.agencies == inv.agencies
        assert again.sites == tuple(sorted(inv.sites, key=lambda s: s.id))
        assert again.entities == tuple(sorted(inv.entities, key=lambda e: (e.kind, e.id)))
        stray = conn.execute("SELECT assigned FROM entities WHERE id = 'stray-01'").fetchone()
        assert stray == (False,)
        # Loading a smaller inventory unassigns what it no longer lists, keeping its row.
        smaller = parse_inventory("entities:\n  - {kind: kiosk, id: k9, name: Kiosk 9}\n", "small.yaml")
        store_inventory(conn, smaller)
        rows = dict(conn.execute("SELECT id, assigned FROM entities").fetchall())
        assert rows == {"stray-01": False, "wan-xa-phu-vang": False, "kiosk-pv-01": False,
                        "dvc-portal": False, "k9": True}  # fmt: skip


def test_cli_load_reports_errors(tmp_path: Path, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ioc.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  - {kind: kiosk, id: k1}\n", encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(CONTRACT_EXAMPLE, encoding="utf-8")
    monkeypatch.setenv("IOC_DATABASE_URL", dsn)
    runner = CliRunner()
    result = runner.invoke(app, ["inventory", "load", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: entities[0] (kiosk/k1).name: is required" in result.output
    result = runner.invoke(app, ["inventory", "load", str(good)])
    assert result.exit_code == 0, result.output
    assert "loaded 1 agencies, 3 sites, 3 entities" in result.output


@pytest.mark.parametrize("text", ["", "~", "null", "{}", "agencies: []\nsites: []\nentities: []\n", "agencies:\n"])
def test_an_empty_inventory_is_refused(text: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, "inventory.yaml")
    (problem,) = err.value.problems
    assert problem.startswith("inventory.yaml: top level: the inventory is empty")


def test_put_of_an_empty_inventory_leaves_the_province_alone(dsn: str) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from ioc.api.app import create_app
    from ioc.auth import create_key
    from ioc.settings import load_settings
    from ioc.store.connect import make_pool

    with psycopg.connect(dsn) as conn:
        store_inventory(conn, parse_inventory(CONTRACT_EXAMPLE))
        key = create_key(conn, "admin", None, "test-admin")
    pool = make_pool(dsn, max_size=2, name="ioc-inventory-test")
    pool.open(wait=True)
    try:
        app = create_app(load_settings(database_url=dsn), pool=pool, registry=CollectorRegistry(), readiness={})
        client = TestClient(app)
        for body in (b"", b"null", b"{}"):
            r = client.put("/api/v1/inventory", content=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 422, body
            assert "the inventory is empty" in r.json()["detail"]
    finally:
        pool.close()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM entities WHERE assigned").fetchone()[0] == 3


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "agencies:\n  - {id: a1, name: A, status_page: secret}\n",
            ["f.yaml: agencies[0].status_page: must be public or private, not 'secret'"],
        ),
        (
            "sites:\n  - {id: s1, name: S, lat: 91, lon: 107.5}\n",
            ["f.yaml: sites[0].lat: must be WGS 84 decimal degrees in [-90, 90], not 91"],
        ),
        ("sites:\n  - {id: s1, name: S, lat: 16.4}\n", ["f.yaml: sites[0]: lat and lon go together"]),
        (
            "entities:\n  - {kind: kiosk, id: k1, name: K, depends_on: [l9, 5]}\n",
            [
                "f.yaml: entities[0] (kiosk/k1).depends_on[0]: 'l9' is not of the form kind/id",
                "f.yaml: entities[0] (kiosk/k1).depends_on[1]: 5 is not a kind/id string",
            ],
        ),
    ],
)
def test_section_7_additions_are_checked(text: str, problems: list[str]) -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "f.yaml")
    assert info.value.problems == problems


def test_section_7_additions_are_kept() -> None:
    inv = parse_inventory(
        "agencies:\n  - {id: a1, name: A, status_page: private}\n"
        "sites:\n  - {id: s1, name: S, lat: 16.4637, lon: 107.5909}\n"
    )
    assert inv.agencies[0].attrs == {"status_page": "private"} and not inv.agencies[0].public
    assert inv.sites[0].attrs == {"lat": 16.4637, "lon": 107.5909}
