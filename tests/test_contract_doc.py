"""docs/contract.md stays in step with the code: every setting, dead-letter reason, standard metric and
command is in it, and its device examples decode without a problem."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from collectors.decoders import apply_time_window, decode_message
from ioc.cli import app
from ioc.inventory import parse_inventory
from ioc.model import STANDARD_METRICS
from ioc.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", DOC, re.S)
# The examples' `ts` are around 2026-11-23; decode them as if received then.
RECEIVED_AT = 1_795_396_000.0


def _json_blocks() -> list[object]:
    return [orjson.loads(body) for lang, body in BLOCKS if lang == "json"]


def _is_sample(doc: object) -> bool:
    return isinstance(doc, dict) and "metrics" in doc


SAMPLE_EXAMPLES = [e for e in _json_blocks() if _is_sample(e) or (isinstance(e, list) and all(map(_is_sample, e)))]


def test_every_setting_is_documented() -> None:
    missing = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]
    assert [name for name in missing if f"`{name}`" not in DOC] == []


def _reason_codes() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "collectors" / "decoders").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes.update(re.findall(r'(?:reject|FieldError)\(\s*"([a-z_]+)"', text))
        codes.update(re.findall(r'return "([a-z_]+)"', text) if path.name == "__init__.py" else ())
    for path in (ROOT / "ioc" / "store").glob("*.py"):  # the writer's refused rows (ioc/store/isolation.py)
        codes.update(re.findall(r'Rejection\([^)]*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    return codes


def test_every_dead_letter_reason_is_in_the_reason_table() -> None:
    codes = _reason_codes()
    assert {"bad_topic", "too_many_samples", "store_rejected"} <= codes  # the scan finds all three ways
    assert sorted(c for c in codes if f"| `{c}` |" not in DOC) == []


def test_every_standard_metric_is_documented() -> None:
    assert [m for names in STANDARD_METRICS.values() for m in names if f"`{m}`" not in DOC] == []


def test_every_command_is_documented() -> None:
    commands = [f"ioc {c.name or c.callback.__name__}" for c in app.registered_commands if c.callback]
    for group in app.registered_groups:
        assert group.typer_instance is not None
        commands += [f"ioc {group.name} {c.name}" for c in group.typer_instance.registered_commands]
    assert len(commands) > 10
    assert [c for c in commands if f"`{c}" not in DOC] == []


@pytest.mark.parametrize("example", SAMPLE_EXAMPLES)
def test_sample_examples_decode_without_problems(example: object) -> None:
    decoded = decode_message("ioc/v1/metrics/kiosk/kiosk-pv-01", orjson.dumps(example), RECEIVED_AT, "ioc/v1")
    apply_time_window(decoded, RECEIVED_AT, 30 * 86400)
    assert decoded.problems == [] and len(decoded) > 0


def test_sample_examples_are_found() -> None:
    assert any(isinstance(e, list) for e in SAMPLE_EXAMPLES), "a batch example"
    assert any(isinstance(e, dict) and "labels" in e for e in SAMPLE_EXAMPLES), "a sample object with labels"


def test_event_example_decodes() -> None:
    (event,) = [e for e in _json_blocks() if isinstance(e, dict) and "severity" in e and "type" in e]
    decoded = decode_message("ioc/v1/events/kiosk/kiosk-pv-01", orjson.dumps(event), RECEIVED_AT, "ioc/v1")
    assert decoded.problems == [] and [e.message for e in decoded.events] == [event["message"]]


def test_line_protocol_example_decodes() -> None:
    (body,) = [body for lang, body in BLOCKS if not lang and body.startswith("ping,")]
    decoded = decode_message("ioc/v1/lp/link/wan-xa-phu-vang", body.encode(), RECEIVED_AT, "ioc/v1")
    assert decoded.problems == []
    assert decoded.metrics[0] == "ping_average_response_ms"


def test_inventory_example_is_valid() -> None:
    (body,) = [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("agencies:")]
    inventory = parse_inventory(body, "docs/contract.md")
    assert {e.ref for e in inventory.entities} == {"link/wan-xa-phu-vang", "kiosk/kiosk-pv-01", "service/dvc-portal"}
