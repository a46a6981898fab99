"""The request's notion of now, from the clock injected into the app (a fake one in tests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request


def get_now(request: Request) -> float:
    return float(request.app.state.clock())


NowDep = Annotated[float, Depends(get_now)]
