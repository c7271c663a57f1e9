"""Issue 30 #3: `dcagent plan` on a request that would be rejected ends at the rejection (nothing after it is listed,
as nothing after it would happen) and exits non-zero (3, as `dcagent run` does for a rejection; 1 stays an
error). Read-only check steps plan by running their check, so their rejection shows too."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from agent.cli.common import EXIT_REJECTED
from agent.cli.plans import rejections, show_plan
from agent.engine.calendar import OfficeCalendar
from agent.engine.executor import Executor
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.engine.store import Store
from tests.unit.engine.test_executor import THREE_STEPS, playbook
from tests.unit.engine.world import FakeClock, RecordingTracker, World, make_registry

DEVICE = ObjectRef("dcim.device", 42)


def _executor(store: Store, tmp_path: Path, world: World, text: str = THREE_STEPS) -> Executor:
    pb = playbook(tmp_path, world, text)
    return Executor(store, {pb.name: pb}, None, RecordingTracker(), InProcessLocks(), FakeClock(),
                    registry=make_registry(world))  # fmt: skip


def test_the_plan_ends_at_the_step_that_would_reject(store: Store, tmp_path: Path) -> None:
    ex = _executor(store, tmp_path, World(slots=0))
    lines = ex.plan("selftest", DEVICE)
    assert [(k, c.action) for k, c in lines] == [("reserve", "reject")]
    assert rejections(ex.playbooks["selftest"], lines) == ["no free slot: 0 of 0 left"]
    assert show_plan(ex.playbooks["selftest"], "srv-1", lines, as_json=True) == EXIT_REJECTED


def test_a_plan_that_would_go_ahead_lists_every_step_and_exits_0(store: Store, tmp_path: Path) -> None:
    ex = _executor(store, tmp_path, World())
    lines = ex.plan("selftest", DEVICE)
    assert [k for k, _ in lines] == ["reserve", "note-1", "reserve-2", "note-2"]
    assert show_plan(ex.playbooks["selftest"], "srv-1", lines, as_json=False) == 0


def test_a_step_allowed_to_continue_on_rejection_does_not_end_the_plan(store: Store, tmp_path: Path) -> None:
    text = THREE_STEPS.replace("  - step: reserve\n    sla: 1d\n", "  - step: reserve\n    sla: 1d\n"
                               "    on_rejected: continue\n", 1)  # fmt: skip
    ex = _executor(store, tmp_path, World(slots=0), text)
    lines = ex.plan("selftest", DEVICE)
    assert [k for k, _ in lines] == ["reserve", "note-1", "reserve-2"]  # past reserve; reserve-2 ends it
    assert rejections(ex.playbooks["selftest"], lines) == ["no free slot: 0 of 0 left"]
    assert show_plan(ex.playbooks["selftest"], "srv-1", lines, as_json=True) == EXIT_REJECTED


def test_a_read_only_checks_plan_is_the_check_and_its_rejection_is_a_reject_line() -> None:
    device = {"id": 7, "name": "srv-1", "site_id": 1, "site": "dc-batam", "rack_id": 1, "position": 10,
              "face": "front", "status": "active", "u_height": 1, "full_depth": True, "psu_draw_w": [300],
              "data_interfaces": ["eno1"], "tenant_id": 3, "tenant": "dinkes", "role": "server", "platform": "linux",
              "serial": "SN1", "asset_tag": None, "device_type": "r650", "manufacturer": "Dell",
              "primary_ip": "127.10.0.5/24", "custom_fields": {"dcagent_maintenance_reason": "ganti disk"}}  # fmt: skip
    ctx = StepContext(run_id="plan", playbook="maintenance", step="validate_window", request=DEVICE, outputs={},
                      services=None, locks=InProcessLocks(), clock=FakeClock(), params={"max_hours": 72},
                      meta=RunMeta(calendar=OfficeCalendar()), language="en", approved={"device": device})  # fmt: skip
    spec = REGISTRY.get("validate_window")
    assert spec.plan is not None
    changes = spec.run_plan(ctx)
    assert changes and all(c.action == "reject" for c in changes), changes


def test_the_plan_commands_help_documents_its_exit_codes() -> None:
    result = CliRunner().invoke(app, ["plan", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "3 it would be rejected" in " ".join(result.output.split())
