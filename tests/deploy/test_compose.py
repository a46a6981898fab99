"""deploy/compose.yaml against the Compose Specification schema, and the wiring the operations guide promises.

`compose-spec.json` is the schema of github.com/compose-spec/compose-spec (schema/compose-spec.json,
Apache-2.0), kept here so the test runs offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

DEPLOY = Path("deploy")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_valid_against_the_compose_spec(compose: dict) -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(compose)


def test_the_schema_catches_mistakes(compose: dict) -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError, match="restart_policy"):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_roles_images_and_mounts(compose: dict) -> None:
    services = compose["services"]
    assert (
        services["timescaledb"]["image"].startswith("timescale/timescaledb:")
        and "-pg1" in services["timescaledb"]["image"]
    )
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    roles = {name: s["command"] for name, s in services.items() if s.get("command", [None])[0] == "run"}
    assert sorted(r[-1] for r in roles.values()) == ["alerts", "api", "ingest", "ingest"]
    ingest = [s for s in services.values() if s.get("command") == ["run", "--role", "ingest"]]
    client_ids = {s["environment"]["IOC_MQTT_CLIENT_ID"] for s in ingest}
    assert len(client_ids) == len(ingest), "every ingest process keeps its own persistent session"
    for s in ingest:
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["environment"]["IOC_DATABASE_URL"].startswith("postgresql://")
    mounts = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    mq = services["mosquitto"]["volumes"]
    for name in ("mosquitto.conf", "acl", "passwd"):
        assert any(v.startswith(f"./mosquitto/{name}:/mosquitto/config/{name}") for v in mq), name
    for path in ("mosquitto/mosquitto.conf", "mosquitto/acl", "Dockerfile", "ioc.env.example"):
        assert (DEPLOY / path).is_file(), path


def test_docker_compose_config_where_the_plugin_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    env = {"IOC_DB_PASSWORD": "x", "IOC_MQTT_PASSWORD": "y", "GRAFANA_ADMIN_PASSWORD": "z", "PATH": "/usr/bin:/bin"}
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copy(DEPLOY / "ioc.env.example", tmp_path / "deploy" / "ioc.env")
    result = subprocess.run([docker, "compose", "-f", str(tmp_path / "deploy" / "compose.yaml"), "config", "-q"],
                            capture_output=True, env=env, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
