"""The console's ingest members page (contract section 11): who holds a share of the shared subscription,
whether it runs, and its backlog. Operators and admins: it names hosts and processes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ioc.api.deps import ConnDep
from ioc.console.web import SessionDep, console_of, need, render
from ioc.ingest_members import is_up
from ioc.store.members import list_members

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/ingest-members", response_class=HTMLResponse)
def ingest_members_page(request: Request, session: SessionDep, conn: ConnDep) -> HTMLResponse:
    need(session, "operator")
    gone_s = console_of(request).settings.ingest_member_gone_s
    rows = [(m, is_up(m, gone_s)) for m in list_members(conn)]
    backlog = sum(m.backlog for m, up in rows if up)
    return render(
        request, "ingest_members.html", {"members": rows, "backlog": backlog, "gone_s": gone_s}, session=session
    )
