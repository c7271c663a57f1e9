"""Read-only pages for the people who work in NetBox: an object's runs and the decisions it waits for, a run's
timeline against the SOP standards, its documents. Server-rendered, no JavaScript, usable on a phone.

Two ways in, both decided by NetBox or by dcagent's own secret (decision 0011): a signed, expiring link written in
the object's journal (opens that one path, for whoever holds it — mail, a printout's QR, a colleague), or the
person's NetBox session, which NetBox checks by showing them the object (its login and object permissions decide;
this is the way in from the device's custom link). Anything else is refused with a pointer to NetBox's login.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from agent.engine.calendar import OfficeCalendar
from agent.engine.playbook import Playbook
from agent.engine.registry import ObjectRef
from agent.engine.store import RunView, Store
from agent.engine.timeline import human, run_data
from agent.i18n import Language, status_label, t
from agent.reports.dates import office_date
from agent.reports.links import DOCUMENT, document_path, object_path, run_path, signed_path, valid
from agent.reports.render import page
from agent.steps.titles import step_title
from integrations.errors import IntegrationError, TransientError

RUN_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
OBJECT_TYPE = re.compile(r"^[a-z_]{1,40}\.[a-z_]{1,40}$")
HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class Viewer(Protocol):
    """NetBox as the person sees it (integrations.netbox.session.SessionReader)."""

    cookie_name: str

    def read(self, cookie: str, object_type: str, object_id: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Pages:
    secret: str
    reports_dir: Path
    playbooks: Mapping[str, Playbook]
    language: Language = "id"
    clock: Callable[[], float] = time.time
    viewer: Viewer | None = None  # None: signed links only
    netbox_url: str | None = None  # where the refusal page sends people to log in
    prefix: str = ""  # public_url's path, when a reverse proxy serves dcagent under NetBox's host name


class Refused(Exception):
    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


@dataclass(frozen=True)
class Access:
    signed: int | None  # the link's expiry when it came by a signed link (the page's own links last as long)
    obj: dict[str, Any] | None = None  # the object as NetBox showed it to the person (session access)


def _credentials(p: Pages, request: Request, exp: str | None, sig: str | None) -> None:
    """Refuse a caller who brings neither a signed link nor a NetBox session before anything is looked up: the
    answer must not depend on whether the run or document named in the path exists (issue 30 #10)."""
    if exp is None and sig is None and (p.viewer is None or not request.cookies.get(p.viewer.cookie_name)):
        raise Refused(401, "page.login")


def _access(p: Pages, request: Request, path: str, ref: ObjectRef | None, exp: str | None, sig: str | None) -> Access:
    if exp is not None or sig is not None:
        if not valid(p.secret, path, exp, sig, p.clock()):
            raise Refused(403, "page.link_invalid")
        return Access(signed=int(exp or 0))
    cookie = request.cookies.get(p.viewer.cookie_name) if p.viewer else None
    if p.viewer is None or not cookie or ref is None:  # no object to ask NetBox about: the session is unproven
        raise Refused(401, "page.login")
    try:
        obj = p.viewer.read(cookie, ref.object_type, ref.object_id)
    except TransientError:
        raise Refused(503, "page.netbox_down") from None
    except IntegrationError:
        raise Refused(404, "page.not_found") from None
    if obj is None:  # not logged in, not allowed to view it, or gone: NetBox does not say which
        raise Refused(401, "page.login")
    return Access(signed=None, obj=obj)


def _href(p: Pages, path: str, access: Access) -> str:
    return p.prefix + (signed_path(p.secret, path, access.signed) if access.signed else path)


def _refusal(p: Pages | None, refused: Refused) -> HTMLResponse:
    language = p.language if p else "id"
    login = f"{p.netbox_url.rstrip('/')}/login/" if p and p.netbox_url and refused.status == 401 else None
    html = page("page_refused.html.j2", language, message=t(refused.key, language), login=login)
    return HTMLResponse(html, status_code=refused.status, headers=HEADERS)


def pending_decisions(playbook: Playbook | None, tags: set[str], run: RunView | None) -> list[dict[str, Any]]:
    """The SOP decisions the request still waits for, in order: the chain before the run (while no run has
    finished), or the review after a done run (when the playbook has one)."""
    trigger = playbook.trigger if playbook else None
    if trigger is None or trigger.tag not in tags:
        return []
    if run is not None and run.status == "done":
        review = trigger.review
        closed = run.request is not None and bool(run.request.get("review"))
        return [] if review is None or closed else [{"title": review.title, "group": review.group,
                                                     "sop_step": review.sop_step, "next": True}]  # fmt: skip
    if run is not None and run.status not in ("rejected", "failed"):
        return []  # running or waiting: its decisions were made
    waiting = [d for d in trigger.chain if d.tag not in tags]
    return [{"title": d.title, "group": d.group, "sop_step": d.sop_step, "next": i == 0} for i, d in enumerate(waiting)]


def _playbook_of(p: Pages, obj: dict[str, Any], object_type: str, runs: list[RunView]) -> Playbook | None:
    """The request's playbook: its latest run's, else the one whose trigger takes the object's tag at its site
    (a playbook scoped by region is found through its runs: a session read of the object carries no region)."""
    if runs and runs[0].playbook in p.playbooks:
        return p.playbooks[runs[0].playbook]
    tags = {str(tag.get("slug")) for tag in obj.get("tags") or []}
    site = (obj.get("site") or {}).get("slug")
    for pb in p.playbooks.values():
        tr = pb.trigger
        if tr and tr.object_type == object_type and tr.tag in tags and not tr.regions and tr.serves(site, None):
            return pb
    return None


def _run_row(p: Pages, run: RunView, access: Access) -> dict[str, Any]:
    pb = p.playbooks.get(run.playbook)
    zone = pb.calendar.office().timezone if pb else OfficeCalendar().timezone
    return {"id": run.id, "href": _href(p, run_path(run.id), access), "status": status_label(run.status, p.language),
            "title": pb.title if pb else run.playbook, "approver": run.approver,
            # A waiting run's reason says what it waits for and who must act (a step's wait_until: "menunggu
            # teknisi (grup teknisi) mencatat kedatangan server"): on the object's page, not a click away.
            "waiting_for": run.reason if run.status == "waiting" else None,
            "created": office_date(run.created_at, zone, p.language)}  # fmt: skip


def _run_of(store: Store, run_id: str, status: int = 404) -> RunView:
    """The run; unknown answers ``status``: 401 before a session is proven (as for a run NetBox does not let the
    person see), 404 only after a signed link has proven the caller."""
    view = store.get_run(run_id) if RUN_ID.match(run_id) else None
    if view is None:
        raise Refused(status, "page.login" if status == 401 else "page.not_found")
    return view


def _session_run(p: Pages, store: Store, request: Request, run_id: str, exp: str | None, sig: str | None
                 ) -> RunView | None:  # fmt: skip
    _credentials(p, request, exp, sig)
    return _run_of(store, run_id, 401) if exp is None and sig is None else None


def _object_page(p: Pages, store: Store, request: Request, object_type: str, object_id: int) -> Response:
    _credentials(p, request, None, None)
    if not OBJECT_TYPE.match(object_type) or object_id <= 0:
        raise Refused(404, "page.not_found")
    ref = ObjectRef(object_type, object_id)
    access = _access(p, request, object_path(object_type, object_id), ref, None, None)
    assert access.obj is not None  # only a NetBox session opens an object's page
    runs = store.list_runs(ref=ref, limit=50)
    pb = _playbook_of(p, access.obj, object_type, runs)
    tags = {str(tag.get("slug")) for tag in access.obj.get("tags") or []}
    rows = [_run_row(p, r, access) for r in runs]
    name = access.obj.get("display") or access.obj.get("name") or f"{object_type}:{object_id}"
    html = page("page_object.html.j2", p.language, name=name, runs=rows, playbook=pb.title if pb else None,
                pending=pending_decisions(pb, tags, runs[0] if runs else None))  # fmt: skip
    return HTMLResponse(html, headers=HEADERS)


def _run_page(p: Pages, store: Store, request: Request, run_id: str, exp: str | None, sig: str | None) -> Response:
    view = _session_run(p, store, request, run_id, exp, sig)
    access = _access(p, request, run_path(run_id), view.ref if view else None, exp, sig)
    view = view or _run_of(store, run_id)
    pb = p.playbooks.get(view.playbook)
    data = run_data(view, pb.calendar.office() if pb else OfficeCalendar(), pb.standards() if pb else {})
    titles = {st.key: st.title for st in pb.all_steps() if st.title} if pb else {}
    for step in data["steps"]:
        step["duration"] = human(step["seconds"])
        step["title"] = step_title(step["step"], step["key"], titles.get(step["key"]), p.language)
        step["status_label"] = status_label(step["shown_status"], p.language)  # a notice not sent: failed
    data["status_label"] = status_label(view.status, p.language)
    folder = p.reports_dir / run_id
    names = sorted(f.name for f in folder.iterdir() if DOCUMENT.match(f.name)) if folder.is_dir() else []
    documents = [(n, _href(p, document_path(run_id, n), access)) for n in names]
    back = None if access.signed else p.prefix + object_path(view.ref.object_type, view.ref.object_id)
    html = page("page_run.html.j2", p.language, run=data, title=pb.title if pb else None, documents=documents,
                back=back)  # fmt: skip
    return HTMLResponse(html, headers=HEADERS)


def _document(p: Pages, store: Store, request: Request, run_id: str, name: str, exp: str | None, sig: str | None
              ) -> Response:  # fmt: skip
    view = _session_run(p, store, request, run_id, exp, sig)
    _access(p, request, document_path(run_id, name), view.ref if view else None, exp, sig)
    path = p.reports_dir / run_id / name
    if not RUN_ID.match(run_id) or not DOCUMENT.match(name) or not path.is_file():
        raise Refused(404, "page.not_found")
    media = "application/pdf" if name.endswith(".pdf") else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media, headers=HEADERS)


def pages_router(store: Store, pages: Pages | None) -> APIRouter:
    router = APIRouter()

    def guarded(render: Callable[[Pages], Response]) -> Response:
        try:
            if pages is None:
                raise Refused(403, "page.off")
            return render(pages)
        except Refused as refused:
            return _refusal(pages, refused)

    @router.get("/ui/objects/{object_type}/{object_id}", response_class=HTMLResponse)
    def object_page(request: Request, object_type: str, object_id: int) -> Response:
        return guarded(lambda p: _object_page(p, store, request, object_type, object_id))

    @router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str, exp: str | None = None, sig: str | None = None) -> Response:
        return guarded(lambda p: _run_page(p, store, request, run_id, exp, sig))

    @router.get("/ui/runs/{run_id}/documents/{name}")
    def document(request: Request, run_id: str, name: str, exp: str | None = None, sig: str | None = None) -> Response:
        return guarded(lambda p: _document(p, store, request, run_id, name, exp, sig))

    @router.get("/ui/{rest:path}")
    def elsewhere(request: Request, rest: str, exp: str | None = None, sig: str | None = None) -> Response:
        """Any other path under /ui: the same 401 to an anonymous caller, so no path answers differently."""

        def render(p: Pages) -> Response:
            _credentials(p, request, exp, sig)
            raise Refused(404, "page.not_found")

        return guarded(render)

    return router
