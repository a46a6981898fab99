"""Grafana dashboards as code: one module per dashboard, built into JSON with sorted keys.

`DASHBOARDS` is the registry; `ioc dashboards build` writes them, `ioc dashboards push` uploads them.
"""

from __future__ import annotations

from dashboards.registry import DASHBOARDS, build_all

__all__ = ["DASHBOARDS", "build_all"]
