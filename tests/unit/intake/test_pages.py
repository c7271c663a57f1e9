"""A run's page and documents, one click from NetBox's journal (issue 17): the journal entry's signed link opens the
timeline and the PDF; an unsigned, altered or expired link, or any other path, is refused. FastAPI's test client
on a SQLite run store, no lab."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import agent.steps.reports  # noqa: F401  (registers the document steps)
from agent.config.settings import load_settings
from agent.engine.playbook import load_playbook
from agent.engine.registry import ObjectRef, StepContext
from agent.engine.store import NewStep, Store
from agent.intake.pages import Pages, pending_decisions
from agent.intake.server import create_app
from agent.reports.links import document_path, object_path, run_path, signed_path
from agent.steps.reports import document_entry
from agent.steps.services import Services
from integrations.errors import TransientError

SECRET = "link-s3cret"
PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
def world(tmp_path: Path) -> tuple[TestClient, str, Services]:
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    store.migrate()
    plan = [NewStep("check_capacity", "check_capacity", 3600.0)]
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 42), "srv-disdik-09", "webhook", plan, NOW,
                                 approver="kabid")  # fmt: skip
    view = store.get_run(run_id)
    assert view is not None
    store.start_step(view.steps[0].id, NOW)
    store.finish_step(view.steps[0].id, "done", NOW, output={})
    reports = tmp_path / "reports"
    (reports / run_id).mkdir(parents=True)
    (reports / run_id / "berita-acara.pdf").write_bytes(b"%PDF-1.7 dcagent")
    (reports / run_id / "berita-acara.html").write_text("<p>BA</p>")
    (reports / "secret.txt").write_text("not a document")
    pages = Pages(SECRET, reports, {}, "id", clock=lambda: NOW.timestamp())
    client = TestClient(create_app(store, "hook", lambda *_: None, lambda: 0, pages=pages))
    environ = {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
               "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
               "DCAGENT_PUBLIC_URL": "https://dcagent.example.go.id", "DCAGENT_LINK_SECRET": SECRET}  # fmt: skip
    return client, run_id, Services(load_settings(None, environ=environ))


def test_the_journals_links_open_the_timeline_and_the_pdf(world: tuple[TestClient, str, Services]) -> None:
    client, run_id, svc = world
    ctx: Any = StepContext(run_id=run_id, playbook="colocation", step="work_report", outputs={}, services=svc,
                           request=ObjectRef("dcim.device", 42), locks=None, clock=Clock(),  # type: ignore[arg-type]
                           language="id")  # fmt: skip
    entry = document_entry(svc, ctx, "Berita Acara", Path("/r") / run_id / "berita-acara.pdf",
                           Path("/r") / run_id / "berita-acara.html")  # fmt: skip
    links = dict(re.findall(r"\[([^\]]+)\]\(https://dcagent\.example\.go\.id(/[^)]+)\)", entry))
    assert set(links) == {"PDF", "HTML", "linimasa run"} and SECRET not in entry
    page = client.get(links["linimasa run"])
    assert page.status_code == 200 and "check_capacity" in page.text and "srv-disdik-09" in page.text
    assert "no-store" in page.headers["cache-control"]
    [pdf_link] = re.findall(r'href="([^"]+berita-acara\.pdf[^"]*)"', page.text)
    pdf = client.get(pdf_link.replace("&amp;", "&"))
    assert (
        pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    )
    assert client.get(links["PDF"]).status_code == 200


def test_a_link_not_signed_for_that_path_or_expired_is_refused(world: tuple[TestClient, str, Services]) -> None:
    client, run_id, _ = world
    later = int(NOW.timestamp()) + 3600
    assert client.get(run_path(run_id)).status_code == 401  # no signature, no NetBox session: log in to NetBox
    ok = signed_path(SECRET, document_path(run_id, "berita-acara.pdf"), later)
    assert client.get(ok).status_code == 200
    assert client.get(ok.replace("berita-acara.pdf", "berita-acara.html")).status_code == 403  # signed for the PDF
    assert client.get(ok.replace(f"exp={later}", f"exp={later + 1}")).status_code == 403  # a longer life: no
    expired = signed_path(SECRET, run_path(run_id), int(NOW.timestamp()) - 1)
    assert client.get(expired).status_code == 403
    forged = signed_path("another-secret", run_path(run_id), later)
    assert client.get(forged).status_code == 403
    outside = signed_path(SECRET, document_path(run_id, "../secret.txt"), later)
    assert client.get(outside).status_code in (403, 404)  # the path is normalised away or refused: never served
    off = TestClient(create_app(Store("sqlite://"), "hook", lambda *_: None, lambda: 0))
    assert off.get(signed_path(SECRET, run_path(run_id), later)).status_code == 403  # pages off without a secret


# --- the way in from NetBox's custom link: the person's NetBox session, checked by NetBox ---------------------

SESSION = "k3y0fab1e5e55ion0000000000000000"


class FakeNetBox:
    """NetBox's answer to a session reading an object: the device when the session may view it, else None."""

    cookie_name = "sessionid"

    def __init__(self, tags: list[str], allowed: bool = True, down: bool = False) -> None:
        self.tags, self.allowed, self.down = tags, allowed, down
        self.asked: list[tuple[str, str, int]] = []

    def read(self, cookie: str, object_type: str, object_id: int) -> dict[str, Any] | None:
        self.asked.append((cookie, object_type, object_id))
        if self.down:
            raise TransientError("netbox", "HTTP 502")
        if not self.allowed or cookie != SESSION or object_id != 42:
            return None
        return {"id": 42, "display": "srv-disdik-09", "site": {"slug": "dc-batam"},
                "tags": [{"slug": s} for s in self.tags]}  # fmt: skip


def session_client(tmp_path: Path, netbox: FakeNetBox, prefix: str = "") -> tuple[TestClient, str]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    plan = [NewStep("check_capacity", "check_capacity", 3600.0)]
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 42), "srv-disdik-09", "webhook", plan, NOW,
                                 approver="kabid")  # fmt: skip
    store.set_run_status(run_id, "done", NOW)
    (tmp_path / "reports" / run_id).mkdir(parents=True)
    (tmp_path / "reports" / run_id / "berita-acara.pdf").write_bytes(b"%PDF-1.7 dcagent")
    pb = load_playbook(PLAYBOOKS / "colocation.yaml")
    pages = Pages(SECRET, tmp_path / "reports", {"colocation": pb}, "id", clock=lambda: NOW.timestamp(),
                  viewer=netbox, netbox_url="http://netbox.test", prefix=prefix)  # fmt: skip
    return TestClient(create_app(store, "hook", lambda *_: None, lambda: 0, pages=pages)), run_id


def test_a_netbox_session_that_may_view_the_object_opens_its_page_its_runs_and_documents(tmp_path: Path) -> None:
    netbox = FakeNetBox(["sop-colocation", "disposisi", "approved"])
    client, run_id = session_client(tmp_path, netbox, prefix="/dcagent")
    client.cookies.set("sessionid", SESSION)
    page = client.get(object_path("dcim.device", 42))
    assert page.status_code == 200 and "srv-disdik-09" in page.text, page.text
    assert f'href="/dcagent/ui/runs/{run_id}"' in page.text  # behind NetBox's proxy path, no signature needed
    assert "Pemeriksaan laporan oleh Kepala Dinas" in page.text  # done, not reviewed: the review waits
    assert netbox.asked == [(SESSION, "dcim.device", 42)]  # NetBox decided, for that object
    run = client.get(run_path(run_id))
    assert run.status_code == 200 and "check_capacity" in run.text
    assert f'href="/dcagent/ui/runs/{run_id}/documents/berita-acara.pdf"' in run.text
    assert f'href="/dcagent{object_path("dcim.device", 42)}"' in run.text
    pdf = client.get(document_path(run_id, "berita-acara.pdf"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert page.headers["x-frame-options"] == "DENY" and "no-store" in pdf.headers["cache-control"]


@pytest.mark.parametrize(
    ("netbox", "cookie", "status"),
    [
        (FakeNetBox(["sop-colocation"]), None, 401),  # no session: log in to NetBox
        (FakeNetBox(["sop-colocation"]), "f0rged0000000000000000000000000", 401),  # NetBox does not know it
        (FakeNetBox(["sop-colocation"], allowed=False), SESSION, 401),  # may not view that device
        (FakeNetBox(["sop-colocation"], down=True), SESSION, 503),  # NetBox down: no page, no guess
    ],
)
def test_no_page_without_netbox_saying_the_person_may_view_the_object(
    tmp_path: Path, netbox: FakeNetBox, cookie: str | None, status: int
) -> None:
    client, run_id = session_client(tmp_path, netbox)
    if cookie:
        client.cookies.set("sessionid", cookie)
    for path in (object_path("dcim.device", 42), run_path(run_id), document_path(run_id, "berita-acara.pdf")):
        refused = client.get(path)
        assert refused.status_code == status, path
        assert "srv-disdik-09" not in refused.text and "%PDF" not in refused.text
        assert ("http://netbox.test/login/" in refused.text) == (status == 401)


def test_an_object_page_lists_the_decisions_still_waited_for(tmp_path: Path) -> None:
    pb = load_playbook(PLAYBOOKS / "colocation.yaml")
    filed = pending_decisions(pb, {"sop-colocation"}, None)
    assert [(d["sop_step"], d["group"], d["next"]) for d in filed] == [
        ("000.2", "kepala-dinas", True),
        ("000.3", "kepala-bidang", False),
    ]
    disposed = pending_decisions(pb, {"sop-colocation", "disposisi"}, None)
    assert [(d["sop_step"], d["next"]) for d in disposed] == [("000.3", True)]
    assert pending_decisions(pb, {"disposisi"}, None) == []  # not a request (no request tag)
    client, _ = session_client(tmp_path, FakeNetBox(["sop-colocation", "disposisi", "approved"]))
    client.cookies.set("sessionid", SESSION)
    done = client.get(object_path("dcim.device", 42)).text
    assert "Pemeriksaan laporan oleh Kepala Dinas" in done and "Disposisi Kepala Dinas" not in done
    assert client.get(object_path("dcim.device", 7)).status_code == 401  # another device: NetBox says no
    assert client.get("/ui/objects/dcim.device/0").status_code in (401, 404)
    assert client.get("/ui/objects/..%2Fsecret/42").status_code == 404


def test_an_anonymous_caller_cannot_tell_a_real_run_from_an_unknown_one(tmp_path: Path) -> None:
    """Issue 30 #10: credentials are looked at before the run store, so every unauthenticated request gets the
    same 401 whether the run exists, is unknown or is not even a run id; a forged session gets the same answer."""
    netbox = FakeNetBox(["sop-colocation"])
    client, run_id = session_client(tmp_path, netbox)
    unknown = "0123abcd-0000-4000-8000-000000000000"
    paths = [run_path(run_id), run_path(unknown), "/ui/runs/not-a-run", document_path(run_id, "berita-acara.pdf"),
             document_path(unknown, "berita-acara.pdf"), document_path("not-a-run", "x.pdf"),
             "/ui/objects/..%2Fsecret/42", "/ui/objects/dcim.device/0"]  # fmt: skip
    answers = {path: client.get(path) for path in paths}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(paths, 401)
    assert len({r.text for r in answers.values()}) == 1  # one page for all: nothing tells them apart
    client.cookies.set("sessionid", "f0rged0000000000000000000000000")
    forged = [client.get(run_path(run_id)), client.get(run_path(unknown)),
              client.get(document_path(unknown, "berita-acara.pdf"))]  # fmt: skip
    assert [r.status_code for r in forged] == [401, 401, 401]
    assert len({r.text for r in forged}) == 1
