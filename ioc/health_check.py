"""`ioc health`: ask this machine's own process whether it is alive (or ready), on its IOC_HTTP_PORT.

Container health checks and scripts use it, so the port probed is always the one the process listens
on (`ioc run --role ingest` in a container with IOC_HTTP_PORT=8001 answers on 8001, not 8000).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Annotated

import typer


@dataclass(frozen=True)
class HealthAnswer:
    ok: bool
    url: str
    detail: str


def check_health(port: int, *, ready: bool = False, host: str = "127.0.0.1", timeout_s: float = 4.0) -> HealthAnswer:
    """GET /healthz (or /readyz) of the process on `port`; ok when it answers 200."""
    url = f"http://{host}:{port}/{'readyz' if ready else 'healthz'}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return HealthAnswer(True, url, f"{answer.status}")
    except urllib.error.HTTPError as exc:
        return HealthAnswer(False, url, f"{exc.code} {_problems(exc.read())}".rstrip())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return HealthAnswer(False, url, f"no answer: {reason}")


def _problems(body: bytes) -> str:
    """What a /readyz body says is wrong: the failed checks and the problems it names."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    failed = [name for name, ok in (doc.get("checks") or {}).items() if not ok]
    parts = [f"not ready: {', '.join(failed)}"] if failed else []
    parts += [str(p) for p in doc.get("problems") or []]
    return "; ".join(parts)


def health(
    ready: Annotated[
        bool, typer.Option("--ready", help="Ask /readyz (store, broker, peers) instead of /healthz")
    ] = False,
    port: Annotated[int | None, typer.Option(help="Port to ask (default: IOC_HTTP_PORT)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer")] = 4.0,
) -> None:
    """Exit 0 if this machine's ioc process on IOC_HTTP_PORT answers /healthz (or /readyz) with 200."""
    from ioc.cli import settings_or_exit

    answer = check_health(port if port is not None else settings_or_exit().http_port, ready=ready, timeout_s=timeout)
    typer.echo(f"{'ok' if answer.ok else 'failed'}: {answer.url} {answer.detail}", err=not answer.ok)
    if not answer.ok:
        raise typer.Exit(1)


def add_health_command(app: typer.Typer) -> None:
    app.command("health")(health)
