from __future__ import annotations

from pathlib import Path

import pytest

from ioc.settings import SettingsError, load_settings


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("IOC_DATABASE_URL", "IOC_MQTT_URL", "IOC_HTTP_PORT", "IOC_ALERT_WEBHOOK_URLS"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/ioc"
    assert s.mqtt_url == "mqtt://127.0.0.1:1883"
    assert s.http_port == 8000
    assert s.alert_webhook_urls == []


def test_environment_and_comma_separated_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_ALERT_WEBHOOK_URLS", "http://a.example/hook, http://b.example/x")
    monkeypatch.setenv("IOC_MQTT_URL", "mqtts://dev:pw@broker.example:8884")
    s = load_settings()
    assert [str(u) for u in s.alert_webhook_urls] == ["http://a.example/hook", "http://b.example/x"]
    target = s.mqtt
    assert (target.host, target.port, target.tls, target.username, target.password) == (
        "broker.example", 8884, True, "dev", "pw",
    )  # fmt: skip


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IOC_HTTP_PORT", raising=False)
    (tmp_path / ".env").write_text("IOC_HTTP_PORT=8123\n", encoding="utf-8")
    assert load_settings().http_port == 8123


def test_all_errors_are_reported_together_each_naming_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_HTTP_PORT", "abc")
    monkeypatch.setenv("IOC_MQTT_URL", "http://broker")
    monkeypatch.setenv("IOC_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("IOC_ALERT_WEBHOOK_URLS", "not a url")
    with pytest.raises(SettingsError) as info:
        load_settings()
    problems = info.value.problems
    assert "IOC_MQTT_URL: must be an mqtt:// or mqtts:// URL" in problems
    assert "IOC_DATABASE_URL: must be a postgresql:// URL" in problems
    assert any(p.startswith("IOC_HTTP_PORT: ") for p in problems)
    assert any(p.startswith("IOC_ALERT_WEBHOOK_URLS[0]: ") for p in problems)
    assert len(problems) == 4


def test_cross_field_check_names_the_keys() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(retention_days=100, rollup_1m_retention_days=90)
    assert info.value.problems == ["IOC_ROLLUP_1M_RETENTION_DAYS must not be shorter than IOC_RETENTION_DAYS"]


def test_unknown_time_zone() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(timezone="Mars/Olympus")
    assert info.value.problems == ["IOC_TIMEZONE: unknown time zone 'Mars/Olympus'"]
