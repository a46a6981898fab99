"""The routes file (contract section 8): Alertmanager's `route`, `receivers` and `time_intervals`."""

from alerts.routes.config import RoutesConfig, RoutesError, load_routes, parse_routes_text
from alerts.routes.tree import Route, build_tree

__all__ = ["Route", "RoutesConfig", "RoutesError", "build_tree", "load_routes", "parse_routes_text"]
