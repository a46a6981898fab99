"""Dependencies shared by the routers: the pool, the settings, and the caller's key and role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ioc import auth_limits
from ioc.auth import KeyRefused, Principal, authenticate, key_hint
from ioc.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API key from `ioc keys create`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


# The connection commits when the dependency ends: scoped to the function, that is before the response
# is sent, so a client that reads right after a write's answer sees the write (FastAPI's default scope
# ends it after the response).
_conn = Depends(get_conn, scope="function")


def client_address(request: Request) -> str:
    """The caller's address (uvicorn takes X-Forwarded-For from the proxies in its FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else ""


def get_principal(
    request: Request,
    conn: Annotated[psycopg.Connection, _conn],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The key's principal. An address with too many failed keys in the window gets 429 before its key is
    looked at; each failure is stored, logged and audited (ioc/auth_limits.py)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limits = auth_limits.Limits.of(request.app.state.settings)
    now = float(request.app.state.clock())
    source = client_address(request)
    blocked = auth_limits.check(conn, "key", source, now, limits)
    if blocked is None:
        try:
            principal = authenticate(conn, credentials.credentials, now)
        except KeyRefused as refused:
            auth_limits.record_failure(
                conn, "key", source, refused.subject, refused.reason, now, limits, actor="api", target=refused.subject
            )
            conn.commit()  # raising rolls the request's transaction back; the failure must stay
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, refused.detail, headers={"WWW-Authenticate": "Bearer"}
            ) from None
        # Ends the transaction of the checks and of the key's last use at once, so that the key's row is
        # not held locked for the rest of the request (a revocation would wait for it).
        conn.commit()
        return principal
    auth_limits.log_refusal("key", source, key_hint(credentials.credentials), blocked)
    raise HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed API keys from {source}: try again in {blocked.retry_after_s} s",
        headers={"Retry-After": str(blocked.retry_after_s)},
    )


def require(role: str) -> Callable[[Principal], Principal]:
    """A dependency that admits keys of at least this role."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs a key with the {role} role")
        return principal

    return check


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[psycopg.Connection, _conn]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
