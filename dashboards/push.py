"""Upload the dashboards to a running Grafana through its HTTP API (grafana-client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.common import DEFAULT_CONSOLE_URL
from dashboards.registry import build_all

FOLDER_UID = "ioc"
FOLDER_TITLE = "Trung tâm điều hành (IOC)"


def ensure_folder(api: GrafanaApi, uid: str = FOLDER_UID, title: str = FOLDER_TITLE) -> None:
    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(title, uid=uid)


def push_all(
    url: str,
    token: str | None,
    *,
    api_factory: Callable[..., GrafanaApi] = GrafanaApi.from_url,
    timeout_s: float = 10.0,
    console_url: str = DEFAULT_CONSOLE_URL,
) -> list[dict[str, Any]]:
    """Create the folder when missing, then save every dashboard over its previous version; data links
    open the console at `console_url` (IOC_PUBLIC_URL)."""
    api = api_factory(url, credential=token, timeout=timeout_s)
    ensure_folder(api)
    results = []
    for board in build_all(console_url.rstrip("/")).values():
        results.append(
            api.dashboard.update_dashboard(
                {"dashboard": board, "folderUid": FOLDER_UID, "overwrite": True, "message": "ioc dashboards push"}
            )
        )
    return results
