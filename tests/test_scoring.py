"""Scoring alerts against a scenario's ground truth, with alert rows in a real store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from collectors.simulator.seasonality import TZ
from ioc.cli import app
from ioc.scoring import TruthError, parse_truth, score_store

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


TRUTH = {
    "scenario": "Kịch bản ngắn",
    "start": at(0).isoformat(),
    "end": at(30).isoformat(),
    "complete": True,
    "incidents": [
        {"id": "mat-ket-noi", "type": "link_down", "root": "link/wan-xa-phu-vang", "start": at(5).isoformat(),
         "end": at(15).isoformat(),
         "affected": ["kiosk/kiosk-pv-01", "kiosk/kiosk-pv-02", "link/wan-xa-phu-vang"]},
        {"id": "kiosk-treo", "type": "kiosk_crash", "root": "kiosk/kiosk-hcc-04", "start": at(10).isoformat(),
         "end": at(20).isoformat(), "affected": ["kiosk/kiosk-hcc-04"]},
        {"id": "cong-cham", "type": "portal_slow", "root": "service/dvc-portal", "start": at(12).isoformat(),
         "end": at(25).isoformat(), "affected": ["service/dvc-portal"]},
    ],
}  # fmt: skip


def insert_alert(
    conn: psycopg.Connection, rule: str, ref: str, starts: datetime | None, suppressed_by: str | None = None
) -> None:
    kind, entity = ref.split("/")
    conn.execute(
        "INSERT INTO alerts (fingerprint, rule, severity, state, kind, entity, pending_since, starts_at,"
        " suppressed_by) VALUES (%s, %s, 'critical', %s, %s, %s, %s, %s, %s)",
        (f"{rule}:{ref}:{starts}", rule, "firing" if starts else "pending", kind, entity,
         (starts or at(29)) - timedelta(seconds=30), starts, suppressed_by),
    )  # fmt: skip


@pytest.fixture
def alerts(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        insert_alert(conn, "link_down", "link/wan-xa-phu-vang", at(6))
        for kiosk in ("kiosk/kiosk-pv-01", "kiosk/kiosk-pv-02"):
            insert_alert(conn, "kiosk_down", kiosk, at(6.5), suppressed_by="link/wan-xa-phu-vang")
        insert_alert(conn, "kiosk_offline", "kiosk/kiosk-hcc-04", at(10.5))
        insert_alert(conn, "kiosk_no_data", "kiosk/kiosk-hcc-04", at(13.5))  # a second page for one incident
        insert_alert(conn, "link_loss", "link/wan-xa-phong-son", at(18))  # nothing happened there
        insert_alert(conn, "service_slow", "service/dvc-portal", None)  # pending only: never paged
        insert_alert(conn, "link_down", "link/wan-xa-phu-vang", at(-60))  # before the run
    return dsn


def test_scores_recall_precision_pages_and_delay(alerts: str) -> None:
    with psycopg.connect(alerts) as conn:
        result = score_store(conn, parse_truth(TRUTH))
    assert (result.incidents, result.detected, result.pages, result.matched_pages) == (3, 2, 4, 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.precision == pytest.approx(0.75)
    assert result.pages_per_incident == pytest.approx(1.5)
    assert result.delays_s == [60.0, 30.0]
    assert (result.delay_p50_s, result.delay_max_s) == (45.0, 60.0)
    assert [i["pages"] for i in result.per_incident] == [1, 2, 0]
    assert [p["entity"] for p in result.false_pages] == ["link/wan-xa-phong-son"]


def test_score_command(alerts: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = tmp_path / "truth.json"
    truth.write_bytes(orjson.dumps(TRUTH))
    monkeypatch.setenv("IOC_DATABASE_URL", alerts)
    result = CliRunner().invoke(app, ["score", "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "scenario: Kịch bản ngắn" in result.output
    assert "recall: 0.67" in result.output and "precision: 0.75" in result.output
    assert "pages per incident: 1.50" in result.output
    assert "detection delay: p50 45 s, max 60 s" in result.output
    assert "cong-cham (portal_slow service/dvc-portal): 0 page(s), missed" in result.output
    as_json = CliRunner().invoke(app, ["score", "--truth", str(truth), "--json", "--until", at(12).isoformat()])
    doc = orjson.loads(as_json.output)
    assert doc["pages"] == 2 and doc["detection_delay_s"] == {"p50": 45.0, "max": 60.0}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"start": "x"}, "<truth>: not a ground-truth file (needs start, end and incidents)"),
        ({**TRUTH, "start": "soon"}, "<truth>: start: 'soon' is not an ISO 8601 time"),
        ({**TRUTH, "end": "2026-11-23T09:00:00"}, "<truth>: end: '2026-11-23T09:00:00' has no UTC offset"),
        ({**TRUTH, "incidents": [{"start": at(1).isoformat(), "end": at(2).isoformat(), "affected": "x"}]},
         "<truth>: incidents[0].affected: must be a list of kind/id references"),
    ],
)  # fmt: skip
def test_truth_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(TruthError) as err:
        parse_truth(doc)
    assert str(err.value) == message
