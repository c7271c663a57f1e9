"""Each office's playbook takes its own sites' requests: scopes by site or region, overlaps refused when the
playbooks load, and a request two offices' playbooks would both take is run by neither (and the journal says so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.engine.errors import PlaybookError
from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbooks
from agent.engine.store import Store
from agent.intake.service import IntakeService, matching
from integrations.netbox import JournalEntry, RequestObject
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry


def office(name: str, scope: str = "") -> str:
    return f"""\
name: {name}
title: Colocation {name}
sop: {{number: "SOP-{name}", office: "Office {name}"}}
trigger: {{object_type: dcim.device, tag: sop-colocation, status: planned{scope}}}
steps:
  - step: note
    sla: 1d
"""


def books(tmp_path: Path, **files: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def request(site: str) -> RequestObject:
    return RequestObject(object_type="dcim.device", id=7, name="srv-7", status="planned",
                         tags=("sop-colocation", "approved"), custom_fields={}, site=site)  # fmt: skip


def test_two_playbooks_for_the_same_requests_do_not_load(tmp_path: Path) -> None:
    books(tmp_path, a=office("a"), b=office("b", ", sites: [dc-x]"))
    with pytest.raises(PlaybookError) as e:
        load_playbooks(tmp_path, make_registry(World()))
    assert "b.yaml:1: trigger: tag 'sop-colocation' also starts playbook 'a'" in str(e.value)
    assert "a.yaml" in str(e.value)


def test_shared_site_or_region_is_an_overlap_but_distinct_ones_load(tmp_path: Path) -> None:
    books(tmp_path, a=office("a", ", regions: [ntb]"), b=office("b", ", regions: [ntb, jateng]"))
    with pytest.raises(PlaybookError, match="also starts playbook 'a'"):
        load_playbooks(tmp_path, make_registry(World()))
    ok = books(tmp_path / "ok", batam=office("batam", ", sites: [dc-batam]"),
               sumbawa=office("sumbawa", ", sites: [dc-sumbawa]"),
               jateng=office("jateng", ", regions: [jateng]"))  # fmt: skip
    assert sorted(load_playbooks(ok, make_registry(World()))) == ["batam", "jateng", "sumbawa"]


def test_the_site_and_its_region_choose_the_office(tmp_path: Path) -> None:
    pbs = load_playbooks(books(tmp_path, batam=office("batam", ", sites: [dc-batam]"),
                               jateng=office("jateng", ", regions: [jateng]")), make_registry(World()))  # fmt: skip
    regions = {"dc-batam": "kepri", "dc-semarang": "jateng", "dc-sumbawa": "ntb"}
    asked: list[str] = []

    def region_of(site: str) -> str | None:
        asked.append(site)
        return regions.get(site)

    assert [pb.name for pb, _ in matching(pbs, request("dc-batam"), region_of)] == ["batam"]
    assert [pb.name for pb, _ in matching(pbs, request("dc-semarang"), region_of)] == ["jateng"]
    assert matching(pbs, request("dc-sumbawa"), region_of) == []  # no office's playbook serves it
    assert set(asked) <= {"dc-batam", "dc-semarang", "dc-sumbawa"}


class JournalNetBox:
    def __init__(self) -> None:
        self.entries: list[str] = []

    def site_region(self, site: str) -> str | None:
        return "jateng"

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        return [JournalEntry(id=i, kind="danger", comments=c) for i, c in enumerate(self.entries)]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> Any:
        self.entries.append(comments)


def test_a_request_two_offices_claim_runs_nowhere_and_is_journalled_once(tmp_path: Path) -> None:
    reg = make_registry(World())
    pbs = load_playbooks(books(tmp_path / "pb", city=office("city", ", sites: [dc-semarang]"),
                               province=office("province", ", regions: [jateng]")), reg)  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    store.migrate()
    netbox = JournalNetBox()
    ex = Executor(store, pbs, None, RecordingTracker(), InProcessLocks(), FakeClock(), registry=reg)
    intake = IntakeService(netbox, ex)  # type: ignore[arg-type]
    for _ in range(2):  # the webhook, then the reconciler
        taken = intake.take(request("dc-semarang"), "webhook", submit=False)
        assert sorted(t.playbook for t in taken) == ["city", "province"] and all(t.run_id is None for t in taken)
    assert store.list_runs() == []
    assert len(netbox.entries) == 1 and "city, province" in netbox.entries[0]
