"""deploy/compose.yaml against the Compose Specification schema, and the wiring the deploy guide promises:
every variable the Grafana provisioning names is given, every setting compose passes exists, each
role's health check and Prometheus target use the port it listens on, the broker files are mounted
where mosquitto.conf reads them.

`compose-spec.json` is the schema of github.com/compose-spec/compose-spec (schema/compose-spec.json,
Apache-2.0), kept here so the test runs offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from ioc.settings import ENV_PREFIX, Settings

DEPLOY = Path("deploy")
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text(encoding="utf-8"))
IOC_IMAGE = "ioc-monitor:latest"
# Each role the service runs in compose, and the port it listens on (ioc/runtime.py: IOC_HTTP_PORT).
ROLE_PORTS = {"api": 8000, "alerts": 8002, "ingest-1": 8001, "ingest-2": 8001}


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def interpolated(value: str, env: dict[str, str] | None = None) -> str:
    """A compose value with ${VAR}, ${VAR:-default} and ${VAR:?error} filled in as compose does."""

    def fill(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        given = (env or {}).get(name, f"<{name}>")
        if op == ":-" and not given:
            return arg
        if op == ":?" and not given:
            raise ValueError(f"{name}: {arg}")
        return given

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", fill, value)


def mqtt_url(service: dict) -> tuple[str | None, int | None, str | None]:
    """Host, port and username of a service's IOC_MQTT_URL, with compose's defaults filled in."""
    parts = urlsplit(interpolated(service["environment"]["IOC_MQTT_URL"], {"IOC_MQTT_USERNAME": ""}))
    return parts.hostname, parts.port, parts.username


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("compose.yaml")


def ioc_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == IOC_IMAGE}


def role_services(compose: dict) -> dict[str, dict]:
    """The services that run `ioc run --role ...`, by name."""
    return {name: s for name, s in ioc_services(compose).items() if s["command"][:2] == ["run", "--role"]}


def http_port(service: dict) -> int:
    """The port the process listens on: its IOC_HTTP_PORT, else the settings' default."""
    return int(service.get("environment", {}).get("IOC_HTTP_PORT", Settings.model_fields["http_port"].default))


def mount_targets(service: dict) -> dict[str, str]:
    """target -> source of a service's bind mounts, short or long syntax."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        out[target] = source
    return out


@pytest.mark.parametrize("name", ["compose.yaml", "compose.emqx.yaml"])
def test_valid_against_the_compose_spec(name: str) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(load(name))


def test_the_schema_catches_mistakes(compose: dict) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError, match="restart_policy"):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


def test_roles_images_and_mounts(compose: dict) -> None:
    services = compose["services"]
    assert (
        services["timescaledb"]["image"].startswith("timescale/timescaledb:")
        and "-pg1" in services["timescaledb"]["image"]
    )
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    roles = role_services(compose)
    assert sorted(s["command"][-1] for s in roles.values()) == ["alerts", "api", "ingest", "ingest"]
    ingest = [s for s in roles.values() if s["command"] == ["run", "--role", "ingest"]]
    client_ids = {s["environment"]["IOC_MQTT_CLIENT_ID"] for s in ingest}
    assert len(client_ids) == len(ingest), "every ingest process keeps its own persistent session"
    spools = {mount_targets(s).get("/var/lib/ioc/spool") for s in ingest}
    assert None not in spools and len(spools) == len(ingest), "every ingest process keeps its own spool"
    for s in roles.values():
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["environment"]["IOC_DATABASE_URL"].startswith("postgresql://")
    mounts = mount_targets(services["grafana"])
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "./grafana/dashboards"
    for path in ("mosquitto/mosquitto.conf", "mosquitto/acl.example", "Dockerfile",
                 "ioc.env.example", "prometheus/prometheus.yml", "alertmanager/alertmanager.yml",
                 "emqx/emqx.conf", "emqx/acl.conf", "README.md"):  # fmt: skip
        assert (DEPLOY / path).is_file(), path


def test_every_variable_of_the_provisioning_is_given_to_grafana(compose: dict) -> None:
    named: set[str] = set()
    for path in sorted(p for p in (DEPLOY / "grafana" / "provisioning").rglob("*") if p.suffix in (".yaml", ".yml")):
        # Grafana expands $VAR and ${VAR} in provisioning files from its environment ($$ is a literal $).
        text = re.sub(r"^\s*#.*$", "", path.read_text(encoding="utf-8"), flags=re.M).replace("$$", "")
        named |= {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", text)}
    assert named >= {"IOC_GRAFANA_DB_HOST", "IOC_GRAFANA_DB_USER", "IOC_GRAFANA_DB_NAME", "IOC_GRAFANA_DB_PASSWORD"}
    grafana_env = compose["services"]["grafana"]["environment"]
    assert sorted(named - set(grafana_env)) == []
    # ... and they name the store compose runs, as the read-only role with the password migrate gives it.
    db = compose["services"]["timescaledb"]
    host, _, port = grafana_env["IOC_GRAFANA_DB_HOST"].partition(":")
    assert host == "timescaledb" and port == "5432"
    assert grafana_env["IOC_GRAFANA_DB_NAME"] == db["environment"]["POSTGRES_DB"]
    assert grafana_env["IOC_GRAFANA_DB_USER"] == "ioc_grafana"
    migrate_env = compose["services"]["migrate"]["environment"]
    assert grafana_env["IOC_GRAFANA_DB_PASSWORD"] == migrate_env["IOC_GRAFANA_DB_PASSWORD"]
    assert grafana_env["IOC_GRAFANA_DB_PASSWORD"].startswith("${IOC_GRAFANA_DB_PASSWORD:?")
    assert compose["services"]["grafana"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_datasource_keeps_the_uid_the_dashboards_use() -> None:
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/ioc.yaml").read_text(encoding="utf-8"))
    assert [d["uid"] for d in provisioned["datasources"]] == ["ioc-store"]
    uids: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and ds.get("type") == "grafana-postgresql-datasource":
                uids.add(str(ds.get("uid")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    assert uids <= {"ioc-store"}, uids


def _read_outside_settings(name: str) -> bool:
    """A variable the code reads itself (os.environ), not through ioc.settings.Settings."""
    for package in ("ioc", "collectors", "alerts", "dashboards"):
        for path in Path(package).rglob("*.py"):
            if f'"{name}"' in path.read_text(encoding="utf-8"):
                return True
    return False


def _settings_names() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def test_every_setting_compose_passes_to_the_service_exists(compose: dict) -> None:
    known = _settings_names()
    unknown = []
    for name, service in ioc_services(compose).items():
        for var in service.get("environment", {}):
            if var.startswith(ENV_PREFIX) and var not in known and not _read_outside_settings(var):
                unknown.append(f"{name}: {var}")
    assert unknown == []


def test_the_env_example_names_real_settings_and_every_compose_variable(compose: dict) -> None:
    text = (DEPLOY / "ioc.env.example").read_text(encoding="utf-8")
    own, _, settings_part = text.partition("# --- the service's settings")
    assert settings_part, "ioc.env.example keeps compose's variables and the settings apart"

    def names(part: str) -> set[str]:
        return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", part, flags=re.M))

    assert sorted(names(settings_part) - _settings_names()) == []
    compose_text = "\n".join((DEPLOY / f).read_text(encoding="utf-8") for f in ("compose.yaml", "compose.emqx.yaml"))
    substituted = set(re.findall(r"\$\{(\w+)(?::?[-?][^}]*)?\}", compose_text))
    assert sorted(substituted - names(own)) == []
    assert sorted(names(own) - substituted) == []


def test_health_checks_ask_each_role_on_its_own_port(compose: dict) -> None:
    roles = role_services(compose)
    assert {name: http_port(s) for name, s in roles.items()} == ROLE_PORTS
    for name, service in roles.items():
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "ioc", "health"], name
        # `ioc health` asks IOC_HTTP_PORT; a --port given here must be that one.
        if "--port" in test:
            assert int(test[test.index("--port") + 1]) == http_port(service), name
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (healthcheck,) = re.findall(r"^HEALTHCHECK .*$", dockerfile, flags=re.M)
    assert 'CMD ["ioc", "health"]' in healthcheck and not re.search(r"\b80\d\d\b", healthcheck)
    # Containers without an HTTP port turn the image's check off rather than fail it.
    for name in ("migrate", "probe"):
        assert compose["services"][name]["healthcheck"] == {"disable": True}, name


def test_the_api_asks_every_other_role_when_asked_if_ready(compose: dict) -> None:
    roles = role_services(compose)
    peers = roles["api"]["environment"]["IOC_PEER_URLS"].split(",")
    asked = {urlsplit(p).fragment: (urlsplit(p).hostname, urlsplit(p).port) for p in peers}
    assert asked == {name: (name, http_port(s)) for name, s in roles.items() if name != "api"}


def test_prometheus_scrapes_every_process_where_it_listens(compose: dict) -> None:
    config = load("prometheus/prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    expected = {f"{name}:{http_port(s)}" for name, s in role_services(compose).items()}
    assert expected <= targets
    grafana_port = compose["services"]["grafana"]["ports"][0].split(":")[-1]
    for target in targets - {"localhost:9090"}:
        host, _, port = target.partition(":")
        assert host in compose["services"], target
        if host in ROLE_PORTS:
            assert int(port) == ROLE_PORTS[host], target
        elif host == "grafana":
            assert port == grafana_port, target
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert compose["services"]["alertmanager"]["profiles"] == ["alertmanager"]


def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/setup --test)")
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(DEPLOY / "prometheus" / name, tmp_path / name)
    shutil.copy(Path(__file__).parent / "prometheus_rules_test.yml", tmp_path / "rules_test.yml")
    checked = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_notices_a_broken_rule(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/setup --test)")
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    (tmp_path / "rules.yml").write_text(rules.replace("== 0", "== = 0", 1), encoding="utf-8")
    checked = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode != 0


def test_alertmanager_config_passes_amtool() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian's prometheus-alertmanager package; scripts/setup --test)")
    checked = subprocess.run([amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


def _conf_paths(conf: str, key: str) -> set[str]:
    return set(re.findall(rf"^{key} (\S+)$", conf, flags=re.M))


def test_the_broker_reads_the_files_compose_mounts(compose: dict) -> None:
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    mounts = mount_targets(compose["services"]["mosquitto"])
    for path in _conf_paths(conf, "password_file") | _conf_paths(conf, "acl_file"):
        assert path in mounts, path
    # The device listener reads what `ioc devices credentials --out deploy/mosquitto` writes.
    assert mounts["/mosquitto/config/passwd"] == "./mosquitto/passwd"
    assert mounts["/mosquitto/config/acl"] == "./mosquitto/acl"
    listeners = [int(p) for p in re.findall(r"^listener (\d+)$", conf, flags=re.M)]
    published = {int(p.split(":")[-1]) for p in compose["services"]["mosquitto"]["ports"]}
    assert listeners == [1883] and published == {1883}
    # The service logs in as its account; the probe gives only the address (each entity has its own).
    for name, service in ioc_services(compose).items():
        if "IOC_MQTT_URL" in service.get("environment", {}):
            expected = ("broker", 1883, None) if name == "probe" else ("broker", 1883, "ioc")
            assert mqtt_url(service) == expected, name
    assert "broker" in compose["services"]["mosquitto"]["networks"]["default"]["aliases"]
    ignored = Path(".gitignore").read_text(encoding="utf-8")
    for generated in ("mosquitto/passwd", "mosquitto/acl", "credentials.txt", "probe-credentials.txt"):
        assert f"deploy/{generated}\n" in ignored, generated


def test_the_probe_container_mirrors_the_systemd_unit(compose: dict) -> None:
    unit = (DEPLOY / "systemd" / "ioc-probe.service").read_text(encoding="utf-8")
    (exec_start,) = re.findall(r"^ExecStart=\S+ (.*)$", unit, flags=re.M)
    probe = compose["services"]["probe"]
    assert probe["command"] == exec_start.split()
    inventory = probe["command"][probe["command"].index("--inventory") + 1]
    assert inventory in mount_targets(probe)
    # Each entity it speaks for logs in with its own account, from the lines `ioc devices credentials` printed.
    assert mount_targets(probe)[probe["environment"]["IOC_MQTT_CREDENTIALS_FILE"]] == "./probe-credentials.txt"
    assert "IOC_DATABASE_URL" not in probe["environment"], "the probe publishes; it needs no store"


def test_emqx_takes_the_brokers_place(compose: dict) -> None:
    emqx = load("compose.emqx.yaml")["services"]
    assert emqx["mosquitto"]["profiles"], "the override switches mosquitto off"
    assert "broker" in emqx["emqx"]["networks"]["default"]["aliases"]
    # Nothing that stays on may need the switched-off mosquitto to start.
    for name, service in compose["services"].items():
        needs = service.get("depends_on", {})
        if "mosquitto" in needs and name != "mosquitto":
            assert needs["mosquitto"].get("required") is False, name
    mounts = mount_targets(emqx["emqx"])
    conf = (DEPLOY / "emqx" / "emqx.conf").read_text(encoding="utf-8")
    files = re.findall(r'(?:bootstrap_file|path) = "(/opt/emqx/etc/[^"]+)"', conf)
    assert len(files) == 2 and all(path in mounts for path in files), files
    acl = (DEPLOY / "emqx" / "acl.conf").read_text(encoding="utf-8")
    assert acl.rstrip().endswith("{deny, all}.") and '{username, "ioc"}' in acl and "${username}" in acl


def _docker_compose() -> list[str] | None:
    """`docker compose` (the plugin), else a standalone Compose v2 `docker-compose`; None if neither."""
    docker = shutil.which("docker")
    if docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        version = subprocess.run([standalone, "version"], capture_output=True, text=True)
        if version.returncode == 0 and "version v2." in version.stdout:  # not the Python Compose v1
            return [standalone]
    return None


def _compose_copy(tmp_path: Path) -> Path:
    """deploy/ in a scratch folder with the files a site makes: env, inventory and broker accounts."""
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    deploy = tmp_path / "deploy"
    env = (DEPLOY / "ioc.env.example").read_text(encoding="utf-8")
    for var in ("IOC_DB_PASSWORD", "IOC_GRAFANA_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "IOC_MQTT_PASSWORD"):
        env = env.replace(f"\n{var}=\n", f"\n{var}=test-{var.lower()}\n")
    env = env.replace("# EMQX_NODE_COOKIE=", "EMQX_NODE_COOKIE=test-cookie")
    (deploy / "ioc.env").write_text(env, encoding="utf-8")
    (deploy / ".env").write_text(env, encoding="utf-8")
    shutil.copy(DEPLOY / "examples" / "province.yaml", deploy / "inventory.yaml")
    for name in ("mosquitto/passwd", "mosquitto/acl", "probe-credentials.txt", "emqx/users.csv"):
        (deploy / name).touch()
    return deploy


def test_docker_compose_config_where_the_plugin_exists(tmp_path: Path) -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("no Docker Compose v2 here (`docker compose version` fails, no standalone docker-compose v2)")
    deploy = _compose_copy(tmp_path)
    variants = (["-f", "compose.yaml"], ["-f", "compose.yaml", "--profile", "alertmanager"],
                ["-f", "compose.yaml", "-f", "compose.emqx.yaml"])  # fmt: skip
    for files in variants:
        result = subprocess.run([*command, *files, "config", "-q"], cwd=deploy, capture_output=True, text=True)
        assert result.returncode == 0, (files, result.stderr)
    (deploy / ".env").write_text("", encoding="utf-8")
    (deploy / "ioc.env").write_text("", encoding="utf-8")
    missing = subprocess.run(
        [*command, "-f", "compose.yaml", "config", "-q"], cwd=deploy, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "set IOC_DB_PASSWORD" in missing.stderr


def test_the_guide_covers_every_step(compose: dict) -> None:
    guide = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needed in ("/d/ioc-overview?kiosk", "/readyz", "devices credentials",
                   "probe-credentials.txt", "--profile alertmanager", "compose.emqx.yaml", "$share/",
                   "pg_dump", "ioc.env.example", "ingest-3"):  # fmt: skip
        assert needed in guide, needed
    for name in compose["services"]:
        assert f"`{name}`" in guide or name.startswith("ingest-"), name


def test_emqx_reads_the_acl_as_erlang_terms() -> None:
    erl = shutil.which("erl")
    if erl is None:
        pytest.skip("erl is not installed (EMQX's acl.conf is a file of Erlang terms)")
    script = 'io:format("~p", [file:consult("deploy/emqx/acl.conf")]), halt().'
    done = subprocess.run([erl, "-noshell", "-eval", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("{ok,["), done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("{deny,all}]}")
