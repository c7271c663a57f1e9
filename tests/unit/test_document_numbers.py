"""Official document numbers (issue 17): per office, kind and year, in sequence, never reused — twenty runs at
once, a restart, a re-run of the step — in the office's format, with its letterhead. SQLite run store, no lab."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import agent.steps.reports  # noqa: F401  (registers the document steps)
from agent.config.settings import load_settings
from agent.engine.document_numbers import DocumentNumbers
from agent.engine.documents import DocumentsSpec, Letterhead
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.engine.store import Store
from agent.steps.services import Services


def test_twenty_runs_at_once_take_twenty_numbers_and_a_rerun_its_own(store: Store) -> None:
    numbers = DocumentNumbers(store.engine)
    taken: dict[str, int] = {}

    def take(run: str) -> None:
        taken[run] = numbers.take("Diskominfo Sumbawa", "BA", 2026, run)

    threads = [threading.Thread(target=take, args=(f"run-{i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(taken.values()) == list(range(1, 21))
    assert numbers.take("Diskominfo Sumbawa", "BA", 2026, "run-7") == taken["run-7"]  # a re-run: the same number
    again = DocumentNumbers(Store(str(store.engine.url)).engine)  # a restarted agent
    assert again.take("Diskominfo Sumbawa", "BA", 2026, "run-new") == 21
    assert again.take("Diskominfo Sumbawa", "SB", 2026, "run-new") == 1  # each kind its own sequence
    assert again.take("Diskominfo Jawa Tengah", "BA", 2026, "run-x") == 1  # each office
    assert again.take("Diskominfo Sumbawa", "BA", 2027, "run-y") == 1  # each year


def test_the_offices_format_is_checked_when_the_playbook_loads() -> None:
    spec = DocumentsSpec()
    assert spec.number("BA", 45, datetime(2026, 12, 2, tzinfo=UTC)) == "BA/045/DC/XII/2026"
    own = DocumentsSpec(
        number_format="{number}/{kind}/DISKOMINFO/{month_number:02d}.{year}", kinds={"berita-acara": "BAST"}
    )
    assert own.number(own.kind_of("berita-acara"), 7, datetime(2026, 3, 1, tzinfo=UTC)) == "7/BAST/DISKOMINFO/03.2026"
    for bad, why in (("{kind}/{nomor}/{year}", "unknown field"), ("{kind}/{year}", r"must contain \{number\}"),
                     ("<b>{number}</b>", "at most 64 letters")):  # fmt: skip
        with pytest.raises(ValidationError, match=why):
            DocumentsSpec(number_format=bad)
    with pytest.raises(ValidationError, match=r"kinds\.berita-acara"):
        DocumentsSpec(kinds={"berita-acara": "BA; rm"})


class Journal:
    def __init__(self) -> None:
        self.entries: list[str] = []

    def add_journal(self, _type: str, _id: int, _kind: str, text: str) -> None:
        self.entries.append(text)

    def user_names(self, usernames: list[str]) -> dict[str, str]:
        self.asked = [*getattr(self, "asked", []), *usernames]
        return {"staf": "Budi Santoso"} | {u: u for u in usernames if u != "staf"}


def test_a_document_carries_its_number_letterhead_and_signatories_and_a_rerun_the_same_number(
    store: Store, tmp_path: Path
) -> None:
    environ = {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
               "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
               "DCAGENT_REPORTS_DIR": str(tmp_path / "reports")}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["netbox"] = Journal()
    head = Letterhead(name="Pemerintah Kabupaten Sumbawa", unit="Dinas Komunikasi dan Informatika",
                      address="Jl. Garuda No. 1, Sumbawa Besar")  # fmt: skip
    numbers = DocumentNumbers(store.engine)

    class Clock:
        def now(self) -> datetime:
            return datetime(2026, 12, 2, 1, 9, tzinfo=UTC)

    obj = {"object_type": "dcim.device", "id": 7, "name": "srv-simpeg-01", "status": "active", "tags": [],
           "custom_fields": {"dcagent_letter_number": "005/123/BKPSDM/XI/2026"}, "tenant": "BKPSDM"}  # fmt: skip
    ctx: Any = StepContext(
        run_id="run-1", playbook="backup-stop", step="letter", request=ObjectRef("dcim.device", 7),
        outputs={"stop_backup": {"schedule": "0 2 * * *", "snapshots_kept": 3}}, services=svc,
        locks=InProcessLocks(), clock=Clock(),  # type: ignore[arg-type]
        approved={"object": obj, "requester": "staf", "names": {"kabid": "Ir. Siti Rahmawati"}},
        meta=RunMeta(documents=DocumentsSpec(letterhead=head), sop_office="Diskominfo Sumbawa", approver="kabid"),
        document_number=lambda kind, year: numbers.take("Diskominfo Sumbawa", kind, year, "run-1"),
    )  # fmt: skip
    numbers.take("Diskominfo Sumbawa", "SP", 2026, "an-earlier-run")
    first = REGISTRY.get("backup_stop_letter").run(ctx)
    html = Path(first.output["html"]).read_text(encoding="utf-8")
    assert "Nomor: SP/002/DC/XII/2026" in html  # the office's second backup-stop letter of 2026
    assert "Nomor surat permohonan" in html and "005/123/BKPSDM/XI/2026" in html  # the letter it answers
    assert "Pemerintah Kabupaten Sumbawa" in html and "Jl. Garuda No. 1, Sumbawa Besar" in html
    # signatories: the approver's name recorded at approval, the filer's read once (it was not recorded)
    assert "Ir. Siti Rahmawati" in html and "Budi Santoso" in html and svc.netbox.asked == ["staf"]
    assert "Kepala Bidang" in html  # no head_title: the default label
    titled = replace(ctx, meta=replace(ctx.meta, documents=DocumentsSpec(letterhead=head, head_title="Kepala Seksi")))
    html = Path(REGISTRY.get("backup_stop_letter").run(titled).output["html"]).read_text(encoding="utf-8")
    assert "Kepala Seksi" in html and "Kepala Bidang" not in html  # the approving official's own title
    again = REGISTRY.get("backup_stop_letter").run(ctx)  # the step re-run after a crash
    assert "Nomor: SP/002/DC/XII/2026" in Path(again.output["html"]).read_text(encoding="utf-8")


def test_each_office_signs_with_its_approving_officials_title() -> None:
    """Issue 34: Sumbawa's approval is the Kepala Seksi's, Central Java's the Kepala Dinas's."""
    import agent.steps  # noqa: F401  (registers the steps the playbooks name)
    from agent.engine.playbook import load_playbooks

    books = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks")
    titles = {
        name: books[name].documents.head_title for name in ("colocation", "colocation-sumbawa", "colocation-jateng")
    }
    assert titles == {"colocation": None, "colocation-sumbawa": "Kepala Seksi", "colocation-jateng": "Kepala Dinas"}
