"""Refusing text no route should see: NUL characters, lone surrogates and oversized strings, in path and
query parameters and in JSON bodies, with a 422 naming the parameter or body field. One dependency, mounted
on every router.

PostgreSQL text cannot hold NUL (a 500 from deep in a query otherwise), and a megabyte label filter is an
attack, not a question. Checked before the route's parameters and body model are validated, so each route
sees only text it can store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request, status

MAX_PATH_CHARS = 200
MAX_QUERY_CHARS = 1000
MAX_BODY_TEXT_CHARS = 20_000
_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\\ud800" alone: no UTF-8 for it, nothing can store it


def _name(where: str) -> str:
    """A parameter or key as the message shows it: quoted, escaped, and cut if it is itself huge."""
    return repr(where if len(where) <= 100 else where[:100] + "...")


def _refuse(subject: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{subject}: {message}")


def check_text(subject: str, value: str, limit: int) -> None:
    """Raise a 422 naming `subject` when the text holds a NUL or is longer than `limit` characters."""
    if _NUL in value:
        raise _refuse(subject, "holds a NUL character (\\u0000)")
    if len(value) > limit:
        raise _refuse(subject, f"longer than {limit} characters ({len(value)})")
    if _SURROGATE.search(value):
        raise _refuse(subject, "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a character")


def json_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every key and string in a JSON document; a key is named by its own path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from json_strings(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_strings(item, f"{path}[{i}]")


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def refuse_hostile_input(request: Request) -> None:
    """The router dependency: every path parameter, query parameter and JSON string checked."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(f"path parameter {_name(name)}", value, MAX_PATH_CHARS)
    for name, value in request.query_params.multi_items():
        check_text(f"query parameter {_name(name)}", name, MAX_QUERY_CHARS)
        check_text(f"query parameter {_name(name)}", value, MAX_QUERY_CHARS)
    if request.method in ("POST", "PUT", "PATCH") and _is_json(request):
        body = await request.body()  # starlette keeps it: the route reads the same bytes
        if b"\\u" not in body and len(body) <= MAX_BODY_TEXT_CHARS:
            return  # nothing to find: no escape that could make a NUL or a surrogate, no string over the limit
        try:
            document = json.loads(body)
        except ValueError:
            return  # not JSON: the route's own parsing names the problem
        for where, text in json_strings(document):
            check_text(f"body field {_name(where)}" if where else "body", text, MAX_BODY_TEXT_CHARS)


# -- the same limits, declared in the OpenAPI schema ------------------------------------------------------

NO_NUL_PATTERN = "^[^\\u0000\\ud800-\\udfff]*$"  # no NUL, no lone surrogate


def _declare(node: Any, limit: int, components: dict[str, Any], seen: set[str]) -> None:
    """Give every plain string under `node` the limit and the no-NUL pattern (in place, refs followed once)."""
    if isinstance(node, list):
        for item in node:
            _declare(item, limit, components, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in components:
            seen.add(name)
            _declare(components[name], limit, components, seen)
        return
    if node.get("type") == "string" and "format" not in node and "enum" not in node and "const" not in node:
        node["maxLength"] = min(node.get("maxLength", limit), limit)
        node.setdefault("pattern", NO_NUL_PATTERN)  # a route's own pattern never admits NUL
    if node.get("type") == "object":  # extra keys are checked too, though the route ignores them
        node.setdefault("propertyNames", {"maxLength": limit, "pattern": NO_NUL_PATTERN})
    for key in ("properties", "patternProperties"):
        for child in (node.get(key) or {}).values():
            _declare(child, limit, components, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            _declare(node[key], limit, components, seen)


def declare_input_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """What `refuse_hostile_input` refuses, written into an OpenAPI document's parameters and JSON bodies."""
    components = schema.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                limit = MAX_PATH_CHARS if parameter.get("in") == "path" else MAX_QUERY_CHARS
                _declare(parameter.get("schema"), limit, components, set())
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                if media == "application/json" or media.endswith("+json"):
                    _declare(content.get("schema"), MAX_BODY_TEXT_CHARS, components, seen)
    return schema
