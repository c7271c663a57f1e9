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
from agent.engine.registry import ObjectRef, StepContext
from agent.engine.store import NewStep, Store
from agent.intake.pages import Pages
from agent.intake.server import create_app
from agent.reports.links import document_path, run_path, signed_path
from agent.settings import load_settings
from agent.steps.reports import document_entry
from agent.steps.services import Services

SECRET = "link-s3cret"
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
    assert client.get(run_path(run_id)).status_code == 403  # no signature
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
