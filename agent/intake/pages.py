"""Read-only pages for the people who work in NetBox: a run's timeline against the SOP standards and its documents,
opened from the signed links dcagent writes in the object's journal (no NetBox session reaches dcagent; a link
names one page and its expiry). Server-rendered, no JavaScript, usable on a phone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from agent.engine.calendar import OfficeCalendar
from agent.engine.playbook import Playbook
from agent.engine.store import Store
from agent.i18n import Language
from agent.reports.links import DOCUMENT, document_path, run_path, signed_path, valid
from agent.reports.render import page
from agent.timeline import human, run_data

RUN_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Pages:
    secret: str
    reports_dir: Path
    playbooks: Mapping[str, Playbook]
    language: Language = "id"
    clock: Callable[[], float] = time.time


def pages_router(store: Store, pages: Pages | None) -> APIRouter:
    router = APIRouter()

    def checked(path: str, exp: str | None, sig: str | None) -> Pages:
        if pages is None:
            raise HTTPException(403, "pages are off: set public_url and link_secret")
        if not valid(pages.secret, path, exp, sig, pages.clock()):
            raise HTTPException(403, "this link is not valid or has expired: open it again from NetBox's journal")
        return pages

    @router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str, exp: str | None = None, sig: str | None = None) -> HTMLResponse:
        p = checked(run_path(run_id), exp, sig)
        view = store.get_run(run_id) if RUN_ID.match(run_id) else None
        if view is None:
            raise HTTPException(404, "no such run")
        pb = p.playbooks.get(view.playbook)
        data = run_data(view, pb.calendar.office() if pb else OfficeCalendar(), pb.standards() if pb else {})
        for step in data["steps"]:
            step["duration"] = human(step["seconds"])
        folder = p.reports_dir / run_id
        names = sorted(f.name for f in folder.iterdir() if DOCUMENT.match(f.name)) if folder.is_dir() else []
        assert exp is not None  # checked: the documents' links last as long as the page's
        documents = [(n, signed_path(p.secret, document_path(run_id, n), int(exp))) for n in names]
        html = page("page_run.html.j2", p.language, run=data, title=pb.title if pb else None, documents=documents)
        return HTMLResponse(html, headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"})

    @router.get("/ui/runs/{run_id}/documents/{name}")
    def document(run_id: str, name: str, exp: str | None = None, sig: str | None = None) -> FileResponse:
        p = checked(document_path(run_id, name), exp, sig)
        path = p.reports_dir / run_id / name
        if not RUN_ID.match(run_id) or not DOCUMENT.match(name) or not path.is_file():
            raise HTTPException(404, "no such document")
        media = "application/pdf" if name.endswith(".pdf") else "text/html; charset=utf-8"
        return FileResponse(path, media_type=media, headers={"Cache-Control": "private, no-store"})

    return router
