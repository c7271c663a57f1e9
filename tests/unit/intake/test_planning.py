"""Plan, then approve (Central Java 004.2-6): the disposition starts the plan stage, the approval starts the request's
run with the plan's results; an approval with no finished plan, or after the request was edited, is refused and a
plan of the request as it is now is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.engine.registry import ObjectRef
from agent.engine.store import Store
from agent.intake.service import IntakeService
from integrations.netbox import RequestObject
from tests.unit.engine.world import FakeClock
from tests.unit.intake.test_decisions import ChainNetBox, intake_for, take

PLANNED = """\
name: jateng
title: Colocation
sop: {number: "067/798", office: "Jawa Tengah"}
trigger:
  object_type: dcim.device
  tag: sop-colocation
  status: planned
  decisions:
    - {tag: disposisi, title: Disposisi Kepala Dinas, group: kepala-dinas, sop_step: "004.1"}
    - {tag: approved, title: Persetujuan Kepala Dinas, group: kepala-dinas, sop_step: "004.5"}
plan:
  steps:
    - {step: note, id: check, sla: 2 jam}
steps:
  - {step: note, id: build, sla: 2 jam}
"""


class PlannedNetBox(ChainNetBox):
    fqdn = "srv-9.dc.lab"

    def obj(self) -> RequestObject:
        return super().obj().model_copy(update={"custom_fields": {"dcagent_fqdn": self.fqdn}})


@pytest.fixture
def intake(tmp_path: Path) -> tuple[IntakeService, Store]:
    return intake_for(tmp_path, "jateng", PLANNED)


def finish(store: Store, run_id: str, output: dict[str, Any]) -> None:
    run = store.get_run(run_id)
    assert run is not None
    for st in run.steps:
        store.finish_step(st.id, "done", FakeClock().now(), output=output)
    store.set_run_status(run_id, "done", FakeClock().now())


def test_the_disposition_plans_and_the_approval_runs_the_plan(intake: tuple[IntakeService, Store]) -> None:
    _service, store = intake
    nb = PlannedNetBox(["sop-colocation", "disposisi"], {"sop-colocation": ("admin", 0), "disposisi": ("kadis", 1)})
    [planning] = take(intake, nb)
    assert planning.playbook == "jateng.plan" and planning.created and planning.run_id is not None
    [joined] = take(intake, nb)  # its own webhooks while it runs
    assert joined.run_id == planning.run_id and not joined.created
    finish(store, planning.run_id, {"rack": "R1", "position": 10})
    [waiting] = take(intake, nb)
    assert waiting.run_id == planning.run_id and "waiting for Persetujuan Kepala Dinas" in waiting.note
    nb.tags.append("approved")
    nb.added["approved"] = ("kadis", 2)
    [started] = take(intake, nb)
    assert started.playbook == "jateng" and started.created and nb.journal_entries == []
    run = store.get_run(started.run_id)
    assert run is not None and run.request is not None
    assert run.request["plan"] == {"run": planning.run_id, "outputs": {"check": {"rack": "R1", "position": 10}}}
    assert len(store.list_runs(playbook="jateng.plan")) == 1


def test_an_approval_before_the_plan_is_refused_and_the_plan_made(intake: tuple[IntakeService, Store]) -> None:
    added = {"sop-colocation": ("admin", 0), "disposisi": ("kadis", 1), "approved": ("kadis", 2)}
    nb = PlannedNetBox(["sop-colocation", "disposisi", "approved"], added)
    [planning] = take(intake, nb)
    assert planning.playbook == "jateng.plan" and planning.created
    assert "approved" not in nb.tags and "disposisi" in nb.tags
    [(kind, text)] = nb.journal_entries
    assert kind == "warning" and "belum ada rencana selesai" in text
    assert intake[1].list_runs(playbook="jateng") == []


def test_an_edit_after_the_plan_voids_its_approval_and_plans_again(intake: tuple[IntakeService, Store]) -> None:
    _service, store = intake
    nb = PlannedNetBox(["sop-colocation", "disposisi"], {"sop-colocation": ("admin", 0), "disposisi": ("kadis", 1)})
    [first] = take(intake, nb)
    finish(store, first.run_id, {})
    nb.fqdn = "other.dc.lab"  # edited after the plan, before the head approves
    nb.tags.append("approved")
    nb.added["approved"] = ("kadis", 2)
    [second] = take(intake, nb)
    assert second.playbook == "jateng.plan" and second.created and second.run_id != first.run_id
    assert "approved" not in nb.tags and "dcagent_fqdn" in nb.journal_entries[-1][1]
    assert store.list_runs(playbook="jateng") == []
    assert ObjectRef("dcim.device", 9) == store.list_runs(playbook="jateng.plan")[0].ref
