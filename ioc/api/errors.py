"""The API's one error body, `{"detail": "..."}` (contract section 4), and its declaration in the OpenAPI schema.

Routes list the error statuses they really answer with `errors(404, 409)` (`json_errors` where the success is
not JSON); every /api/v1 route also answers 401 (`AUTH_ERRORS`) and every route with parameters 422
(`INPUT_ERRORS`: any parameter, or the query string itself, can be refused).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """What every 4xx of the API answers."""

    detail: str = Field(description="what was wrong, naming the parameter or body field")


DESCRIPTIONS = {
    400: "The body cannot be read (not UTF-8, or not the declared content type)",
    401: "No API key, or an unknown, expired or revoked one",
    403: "The key's role or agency does not allow this",
    404: "No such resource, or none the key may see",
    409: "The resource is in a state that does not allow this",
    413: "The body is too large",
    422: "A parameter or body field is invalid; `detail` names it",
    429: "Too many failed attempts; try again later",
    503: "Not ready",
}

ErrorResponses = dict[int | str, dict[str, Any]]


def errors(*codes: int) -> ErrorResponses:
    """The `responses=` entries declaring these statuses with the error body."""
    return {code: {"model": ErrorOut, "description": DESCRIPTIONS[code]} for code in codes}


def json_errors(*codes: int) -> ErrorResponses:
    """The same for a route whose success is not JSON (an HTML page, a feed): FastAPI would declare the
    error body in the route's media type, but errors are always JSON."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    return {code: {"description": DESCRIPTIONS[code], "content": content} for code in codes}


AUTH_ERRORS = errors(401, 429)
INPUT_ERRORS = errors(422)


def describe_validation_error(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one sentence naming each bad parameter."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where, name = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        if where == "body":
            subject = f"body field {name!r}" if name else "body"
        elif where in ("query", "path", "header", "cookie"):
            subject = f"{where} parameter {name!r}"
        else:
            subject = ".".join(loc) or "request"
        parts.append(f"{subject}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation_error(exc)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
