"""Issue 31, Sumbawa's SOP 003.10: the team installs and configures the server (OS, drivers, supporting software,
networking, load balancing, security; 2 working days) before 003.11's test. ``await_record`` waits, durably, until a
member of the group ``teknisi`` records it done in NetBox (the tag ``installed``, added by them: the changelog says
so; never the request's filer or creator, never before the request was filed). A refused record is journalled once
and its tag removed; past the standard the team, not the agency, is reminded once.

No lab: NetBox and the mail relay are the typed fakes of tests/unit/test_delivery.py; the clock is set by the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

import agent.steps  # noqa: F401  (registers every step)
from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbooks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.engine.run_meta import RunMeta
from agent.steps import acts  # noqa: F401  (registers its steps)
from agent.steps.params import AwaitRecord
from agent.steps.services import Services
from integrations.errors import TransientError
from integrations.netbox import Approval
from tests.unit.test_delivery import DEVICE, ENV, OBJECT, ROOT, T0, FakeMailer, FakeNetBox, SetClock

WHAT = "instalasi dan konfigurasi server (sistem operasi, driver)"
PARAMS = {"tag": "installed", "group": "teknisi", "what": WHAT}
WAITING_ID = f"menunggu tim (grup teknisi) mencatat penyelesaian {WHAT} (tag installed)"


@dataclass
class TeamNetBox(FakeNetBox):
    """The device as NetBox holds it while the team works on the server."""

    def add_tag(self, tag: str, user: str, at: str) -> None:
        """A person adds the tag in NetBox's UI: the changelog names them."""
        self.tags.append(tag)
        self.additions[tag] = Approval(username=user, time=at)


@dataclass
class Wait:
    """One ``await_record`` step (key ``installed``) across its looks; a new ``Wait`` over the same progress is the
    agent after a restart."""

    nb: TeamNetBox = field(default_factory=TeamNetBox)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    clock: SetClock = field(default_factory=SetClock)
    progress: dict[str, Any] = field(default_factory=dict)
    approved: dict[str, Any] = field(default_factory=lambda: {"device": DEVICE, "object": OBJECT,
                                                              "requester": "andi", "creator": "budi"})  # fmt: skip
    params: dict[str, Any] = field(default_factory=lambda: dict(PARAMS))
    attempt: int = 0

    def look(self, language: str = "id", at: datetime | None = None) -> StepResult:
        self.clock.t = at or self.clock.t
        self.attempt += 1
        svc = Services(load_settings(None, environ=ENV))
        svc.__dict__["netbox"], svc.__dict__["mailer"] = self.nb, self.mailer
        ctx = StepContext(run_id="run-7", playbook="colocation-sumbawa", step="installed",
                          request=ObjectRef("dcim.device", 7), outputs={}, services=svc, locks=InProcessLocks(),
                          clock=self.clock, params=self.params, language=language,  # type: ignore[arg-type]
                          meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Jakarta"), created_for_request=True,
                                request_tag="sop-colocation", standards={"installed": Standard(2, "wd")}),
                          approved=self.approved, attempt=self.attempt, progress=dict(self.progress),
                          checkpoint=self.progress.update)  # fmt: skip
        return REGISTRY.get("await_record").run(ctx)

    def texts(self) -> list[str]:
        return [text for _kind, text in self.nb.journals]


def test_without_a_record_the_step_waits_and_says_who_must_do_what() -> None:
    w = Wait()
    result = w.look()
    assert result.outcome == "waiting" and result.for_people and result.until == T0 + timedelta(seconds=60)
    assert result.reasons == (WAITING_ID,)
    assert w.nb.reads == ["device"] and w.nb.journals == []  # one read per look
    w.params = {**PARAMS, "poll_seconds": 600, "what": "OS and drivers"}
    later = w.look("en")
    assert later.until == T0 + timedelta(seconds=600)
    assert later.reasons == ("waiting for the team (group teknisi) to record that OS and drivers is done "
                             "(tag installed)",)  # fmt: skip


def test_a_record_by_a_member_of_the_group_ends_the_wait_with_who_and_when() -> None:
    w = Wait()
    w.look()
    w.nb.add_tag("installed", "teknisi", "2026-11-24T03:00:00+00:00")
    result = w.look()
    assert result.outcome == "ok"
    assert dict(result.output) == {"tag": "installed", "recorded_by": "teknisi", "recorded_by_name": "Teknisi Lab",
                                   "recorded_at": "2026-11-24T03:00:00+00:00"}  # fmt: skip
    assert "installed" in w.nb.tags and w.nb.removed == [] and w.nb.journals == [] and w.mailer.sent == []
    assert w.nb.reads[1:] == ["device", "changelog", "groups teknisi"]


def test_a_record_by_someone_outside_the_group_is_refused_once_and_the_tag_removed() -> None:
    w = Wait()
    w.nb.add_tag("installed", "staf", "2026-11-24T03:00:00+00:00")
    result = w.look()
    assert result.outcome == "waiting" and result.reasons == (WAITING_ID,)
    assert w.nb.removed == ["installed"] and "installed" not in w.nb.tags  # a member can record it again
    [(kind, text)] = w.nb.journals
    assert kind == "warning"
    assert text.startswith(f"Catatan penyelesaian {WHAT} (tag installed) oleh staf tidak diterima: bukan anggota "
                           "grup teknisi di NetBox")  # fmt: skip
    assert "anggota grup teknisi perlu mencatatnya kembali" in text
    w.nb.tags.append("installed")  # the same record seen again (the removal was lost): said once, removed again
    assert w.look().outcome == "waiting" and len(w.nb.journals) == 1 and w.nb.removed == ["installed"] * 2
    w.nb.add_tag("installed", "teknisi", "2026-11-24T04:00:00+00:00")
    assert w.look().outcome == "ok"


@pytest.mark.parametrize(("user", "reason"), [
    ("budi", "pembuat keputusan adalah pembuat objek permohonan ini di NetBox"),
    ("andi", "pembuat keputusan adalah pengaju permohonan ini"),
])  # fmt: skip
def test_the_requests_filer_or_creator_may_not_record_the_work(user: str, reason: str) -> None:
    w = Wait()
    w.nb.add_tag("installed", user, "2026-11-24T03:00:00+00:00")  # both are in the group teknisi
    assert w.look().outcome == "waiting"
    assert w.nb.removed == ["installed"] and any(reason in t for t in w.texts()), w.texts()


def test_a_record_made_before_this_request_was_filed_belongs_to_an_earlier_one() -> None:
    w = Wait()
    w.nb.additions["sop-colocation"] = Approval(username="admin", time="2026-11-24T05:00:00+00:00")
    w.nb.add_tag("installed", "teknisi", "2026-11-01T03:00:00+00:00")
    assert w.look().outcome == "waiting"
    assert "installed" not in w.nb.tags and any("2026-11-24T05:00:00" in text for text in w.texts())
    w.nb.add_tag("installed", "teknisi", "2026-11-24T06:00:00+00:00")
    assert w.look().outcome == "ok"


def test_the_team_is_reminded_once_past_the_standard_in_office_time_even_across_a_restart() -> None:
    w = Wait()
    w.look(at=T0)  # Monday 16:00 WIB: the wait begins as the office closes
    w.look(at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC))  # Wednesday 15:00 WIB: 15 of 2 days' 16 working hours
    assert w.nb.journals == []
    result = w.look(at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # Thursday 09:00 WIB: past
    assert result.outcome == "waiting" and result.reasons == (WAITING_ID,)
    [(kind, reminder)] = w.nb.journals
    assert kind == "warning" and reminder.startswith(
        f"Pengingat untuk tim (grup teknisi): penyelesaian {WHAT} belum dicatat sejak 23 November 2026, 16.00 WIB, "
        "melewati standar 2 hari kerja. Selesaikan pekerjaan tersebut, lalu pasang tag installed.")  # fmt: skip
    assert w.mailer.sent == []  # the work is the team's: the agency is not mailed
    w.look(at=datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    restarted = Wait(nb=w.nb, mailer=w.mailer, progress=w.progress, attempt=w.attempt)  # the agent restarted
    restarted.look(at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    assert len(w.nb.journals) == 1


def test_netbox_down_during_a_look_of_the_wait_is_one_look_missed_not_a_failed_run() -> None:
    w = Wait()
    w.nb.down = True
    with pytest.raises(TransientError):  # the first look: any step's outage, retried by the engine
        w.look()
    w.nb.down = False
    w.look()  # the wait begins
    w.nb.down = True
    result = w.look(at=T0 + timedelta(hours=1))
    assert result.outcome == "waiting" and result.until == T0 + timedelta(hours=1, seconds=60)


def test_the_dry_run_is_one_check_line_saying_what_is_awaited() -> None:
    svc = Services(load_settings(None, environ=ENV))
    ctx = StepContext(run_id="plan", playbook="colocation-sumbawa", step="installed",
                      request=ObjectRef("dcim.device", 7), outputs={}, services=svc, locks=InProcessLocks(),
                      clock=SetClock(), params=PARAMS, approved={"object": OBJECT})  # fmt: skip
    assert REGISTRY.get("await_record").plan is not None
    [line] = REGISTRY.get("await_record").run_plan(ctx)
    assert (line.system, line.action, line.target) == ("NetBox", "check", "srv-disdik-09")
    assert "installed" in line.detail and "teknisi" in line.detail and WHAT in line.detail


@pytest.mark.parametrize("params", [
    {"group": "teknisi", "what": WHAT},  # no tag
    {"tag": "installed"},  # nothing for people to read
    {"tag": "Installed!", "what": WHAT},
    {"tag": "installed", "what": "OS\nand drivers"},
    {"tag": "installed", "what": WHAT, "poll_seconds": 1},
])  # fmt: skip
def test_params_that_would_mislead_fail_the_load(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AwaitRecord.model_validate(params)


def test_sumbawa_waits_for_the_installation_after_its_checklist_and_before_its_test() -> None:
    """SOP 003.10 before 003.11: the team sees the checklist, installs, records it; then the performance test."""
    pb = load_playbooks(ROOT / "playbooks")["colocation-sumbawa"]
    keys = [r.key for r in pb.steps]
    at = keys.index("installed")
    # Into Zabbix only once installed: a host for a server without its OS would raise problems for two days.
    assert keys[at - 2 : at + 3] == ["configure_switch_port", "install_checklist", "installed", "register_zabbix",
                                     "verify_monitoring"]  # fmt: skip
    ref = pb.steps[at]
    p = AwaitRecord.model_validate(ref.params)
    assert (ref.step, p.tag, p.group, str(ref.sla)) == ("await_record", "installed", "teknisi", "2 hari kerja")
    assert "load balancing" in p.what and "keamanan" in p.what
