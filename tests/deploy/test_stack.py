"""The compose stack started for real where a docker engine is available: Grafana answers /api/health,
every role is ready on its own port, and the overview's queries run through Grafana's data source.

Where there is no engine (or no compose plugin) it skips and says which.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.test_compose import DEPLOY, ROLE_PORTS, _compose_copy, _docker_compose

# The host's own Mosquitto, PostgreSQL or Grafana may hold the published ports: the test reaches every
# container through `docker compose exec` instead.
NO_HOST_PORTS = """services:
  mosquitto: {ports: !reset []}
  api: {ports: !reset []}
  grafana: {ports: !reset []}
  prometheus: {ports: !reset []}
"""


def _engine() -> list[str]:
    command = _docker_compose()
    if command is None:
        pytest.skip("no Docker Compose v2 here (`docker compose version` fails, no standalone docker-compose v2)")
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here")
    info = subprocess.run([docker, "info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.skip(f"no docker engine here (`docker info`: {info.stderr.strip().splitlines()[-1]})")
    return command


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    command = _engine()
    deploy = _compose_copy(tmp_path_factory.mktemp("stack"))
    env = dict(re.findall(r"^([A-Z_]+)=(.*)$", (deploy / "ioc.env").read_text(encoding="utf-8"), flags=re.M))
    # The accounts a site makes (deploy/README.md step 3), through the command it uses.
    made = subprocess.run([sys.executable, "-m", "ioc", "devices", "credentials", "--inventory",
                           str(deploy / "inventory.yaml"), "--out", str(deploy / "mosquitto")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    if made.returncode != 0 and "No such command" in made.stderr:
        pytest.skip("`ioc devices credentials` is not in this tree")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    service_password = next(line.split()[2] for line in lines if line.startswith("ioc "))
    probed = [line for line in lines if line.startswith(("service/", "link/"))]
    (deploy / "probe-credentials.txt").write_text("\n".join(probed) + "\n", encoding="utf-8")
    for path in (deploy / "mosquitto" / "passwd", deploy / "mosquitto" / "acl", deploy / "probe-credentials.txt"):
        path.chmod(0o644)  # the broker's and the probe's users differ from this test's
    for file in ("ioc.env", ".env"):
        text = (deploy / file).read_text(encoding="utf-8")
        (deploy / file).write_text(re.sub(r"^IOC_MQTT_PASSWORD=.*$", f"IOC_MQTT_PASSWORD={service_password}", text,
                                          flags=re.M), encoding="utf-8")  # fmt: skip
    (deploy / "compose.test.yaml").write_text(NO_HOST_PORTS, encoding="utf-8")
    project = f"ioc-test-{uuid.uuid4().hex[:8]}"
    base = [*command, "-p", project, "-f", "compose.yaml", "-f", "compose.test.yaml"]
    try:
        up = subprocess.run([*base, "up", "-d", "--build", "--wait", "--wait-timeout", "900"], cwd=deploy,
                            capture_output=True, text=True, timeout=1800)  # fmt: skip
        assert up.returncode == 0, up.stderr[-4000:]
        load = subprocess.run([*base, "run", "--rm", "migrate", "inventory", "load", "/etc/ioc/inventory.yaml"],
                              cwd=deploy, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert load.returncode == 0, load.stderr[-2000:]

        yield [*base], {"GRAFANA_ADMIN_PASSWORD": env["GRAFANA_ADMIN_PASSWORD"], "cwd": str(deploy)}
    finally:
        subprocess.run([*base, "down", "-v", "--remove-orphans"], cwd=deploy, capture_output=True, timeout=300)


def _exec(stack: tuple[list[str], dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    base, info = stack
    return subprocess.run([*base, "exec", "-T", *args], cwd=info["cwd"], capture_output=True, text=True, timeout=120)


def test_grafana_is_healthy(stack: tuple[list[str], dict[str, str]]) -> None:
    answer = _exec(stack, "grafana", "wget", "-q", "-O", "-", "http://127.0.0.1:3000/api/health")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["database"] == "ok"


@pytest.mark.parametrize("role", sorted(ROLE_PORTS))
def test_every_role_is_ready_on_its_port(stack: tuple[list[str], dict[str, str]], role: str) -> None:
    answer = _exec(stack, role, "ioc", "health", "--ready")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"ok: http://127.0.0.1:{ROLE_PORTS[role]}/readyz 200"


def _overview_queries() -> list[str]:
    """The overview's SQL with each dashboard variable at its "all" value (Grafana's allValue)."""
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "ioc-overview.json").read_text(encoding="utf-8"))
    all_values = {v["name"]: v.get("allValue") for v in board.get("templating", {}).get("list", [])}
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            sql = target.get("rawSql")
            if not sql:
                continue
            for name, value in all_values.items():
                if value is not None:
                    sql = re.sub(rf"\$\{{{name}(?::\w+)?\}}|\${name}\b|\[\[{name}\]\]", value, sql)
            if not re.search(r"\$(?!__)\w", sql):
                queries.append(sql)
    return queries


def test_the_overviews_queries_run_through_grafanas_data_source(stack: tuple[list[str], dict[str, str]]) -> None:
    queries = _overview_queries()
    assert queries, "the overview has panels whose SQL the data source can run"
    body = json.dumps({"from": "now-24h", "to": "now", "queries": [
        {"refId": f"q{i}", "datasource": {"uid": "ioc-store"}, "rawSql": sql, "format": "table"}
        for i, sql in enumerate(queries)
    ]})  # fmt: skip
    password = stack[1]["GRAFANA_ADMIN_PASSWORD"]
    answer = _exec(stack, "grafana", "wget", "-q", "-O", "-", "--header", "Content-Type: application/json",
                   "--post-data", body, f"http://admin:{password}@127.0.0.1:3000/api/ds/query")  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    results = json.loads(answer.stdout)["results"]
    errors = {ref: r["error"] for ref, r in results.items() if r.get("error")}
    assert errors == {}
    assert len(results) == len(queries)
