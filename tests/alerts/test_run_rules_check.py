"""`ioc run` refuses to start on bad alert rules in IOC_RULES_DIR, listing every problem by file, rule
and key, as it does for bad settings; no traceback, nothing started."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ioc.cli import app

BAD_OP = """
rules:
  - {name: link_loss_fast, kind: link, type: threshold, metric: loss_pct, op: "=>", threshold: 5,
     severity: warning, summary: "{name}"}
"""
BAD_TWO_KEYS = """
rules:
  - {name: kiosk_hot_fast, kind: kiosk, type: threshold, metric: temp_c, op: ">", threshold: 70,
     keep_firing_for: soon, severity: urgent, summary: "{name}"}
"""


def run_with_rules(rules_dir: Path, *args: str):
    # An unreachable store and broker: the run must stop before it tries either.
    env = {"IOC_RULES_DIR": str(rules_dir), "IOC_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
           "IOC_MQTT_URL": "mqtt://127.0.0.1:1"}  # fmt: skip
    return CliRunner().invoke(app, ["run", *args], env=env)


def test_a_missing_rules_dir_stops_the_run(tmp_path: Path):
    result = run_with_rules(tmp_path / "missing")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"invalid alert rules (IOC_RULES_DIR={tmp_path / 'missing'}):",
        f"  {tmp_path / 'missing'}: no such directory",
    ]


def test_a_file_instead_of_a_dir_stops_the_run(tmp_path: Path):
    (tmp_path / "rules.yaml").write_text(BAD_OP, encoding="utf-8")
    result = run_with_rules(tmp_path / "rules.yaml", "--role", "alerts")
    assert result.exit_code == 2
    assert f"  {tmp_path / 'rules.yaml'}: not a directory" in result.stderr.splitlines()


def test_every_problem_of_every_file_is_listed(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(BAD_OP, encoding="utf-8")
    (tmp_path / "b.yml").write_text(BAD_TWO_KEYS, encoding="utf-8")
    (tmp_path / "c.yaml").write_bytes(b"rules:\n  - name: caf\xe9\n")  # Latin-1, not UTF-8
    (tmp_path / "d.yaml").write_text("rules: [", encoding="utf-8")
    result = run_with_rules(tmp_path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output + result.stderr
    assert result.stderr.splitlines() == [
        f"invalid alert rules (IOC_RULES_DIR={tmp_path}):",
        f"  {tmp_path / 'a.yaml'}: rule link_loss_fast: op: must be one of >, >=, <, <=, ==, !=, not '=>'",
        f"  {tmp_path / 'b.yml'}: rule kiosk_hot_fast: severity: must be one of info, warning, critical, not 'urgent'",
        f"  {tmp_path / 'b.yml'}: rule kiosk_hot_fast: keep_firing_for: must be a duration such as 30s, 5m or 1h, "
        "not 'soon'",
        f"  {tmp_path / 'c.yaml'}: cannot read: not UTF-8 text (byte 20)",
        f"  {tmp_path / 'd.yaml'}: line 1, column 9: not valid YAML: expected the node content, but found "
        "'<stream end>'",
    ]
