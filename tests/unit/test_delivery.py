"""Issue 31 #3: the colocation waits for the server. Everything is reserved, then ``await_delivery`` waits (durably:
each look ends in ``wait_until``) until a technician of the group ``teknisi`` records the server's arrival in NetBox —
the tag ``delivered``, added by them (the changelog says so; never the request's filer or creator), and the
server's serial, U height and PSU count. A server unlike the request is not mounted: the finding is journalled,
the agency told, the tag removed, the wait goes on. Past the SOP standard, one reminder.

No lab: NetBox and the mail relay are typed fakes in the services' place; the clock is set by the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import agent.steps  # noqa: F401  (registers every step)
from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar, Standard
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.engine.run_meta import RunMeta
from agent.steps import delivery  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from integrations.errors import TransientError
from integrations.mail import Notice
from integrations.netbox import (
    Approval,
    DeviceTypeFacts,
    JournalEntry,
    NetBoxUser,
    RequestHistory,
    RequestObject,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {"DCAGENT_NETBOX__URL": "http://netbox.test", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
       "DCAGENT_ZABBIX__TOKEN": "z"}  # fmt: skip
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 16:00 WIB: the office is closing
DEVICE: dict[str, Any] = {
    "id": 7, "name": "srv-disdik-09", "site_id": 1, "site": "dc-batam", "rack_id": 1, "position": 10.0,
    "face": "front", "status": "planned", "u_height": 2, "full_depth": True, "psu_draw_w": [350, 350],
    "data_interfaces": ["eno1"], "tenant_id": 3, "tenant": "disdik", "role": "server", "platform": "linux",
    "serial": "CN7X2PQ0042", "asset_tag": None, "device_type": "PowerEdge R650", "manufacturer": "Dell",
    "primary_ip": None, "custom_fields": {}, "psu_templates": 2,
}  # fmt: skip
OBJECT = {"object_type": "dcim.device", "id": 7, "name": "srv-disdik-09", "status": "planned",
          "tags": ["sop-colocation", "approved"], "custom_fields": {}, "tenant": "disdik",
          "site": "dc-batam"}  # fmt: skip
GROUPS = {"teknisi": frozenset({"teknisi"}), "andi": frozenset({"teknisi"}), "budi": frozenset({"teknisi"}),
          "staf": frozenset()}  # fmt: skip
R650 = DeviceTypeFacts(model="PowerEdge R650", u_height=2.0, power_ports=2)
RIGHT = {"dcagent_delivered_serial": "CN7X2PQ0042", "dcagent_delivered_u_height": 2, "dcagent_delivered_psu_count": 2}
WAITING_ID = "menunggu teknisi (grup teknisi) mencatat kedatangan server (tag delivered)"


@dataclass
class FakeNetBox:
    """The device as NetBox holds it while the run waits, and what the step wrote."""

    tags: list[str] = field(default_factory=lambda: ["sop-colocation", "approved", "dcagent-running"])
    fields: dict[str, Any] = field(default_factory=dict)
    additions: dict[str, Approval] = field(default_factory=dict)
    created: Approval | None = field(default_factory=lambda: Approval(username="budi", time="2026-11-20T01:00:00Z"))
    dtype: DeviceTypeFacts = field(default_factory=lambda: R650)
    journals: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    removed: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    down: bool = False

    def record(self, user: str, at: str, **fields: Any) -> None:
        """A person adds the tag (the changelog names them) and fills the fields, as in NetBox's UI."""
        self.tags.append("delivered")
        self.additions["delivered"] = Approval(username=user, time=at)
        self.fields.update(fields)

    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        self.reads.append("device")
        if self.down:
            raise TransientError("NetBox", "read dcim.device 7: HTTP 502")
        return RequestObject(object_type="dcim.device", id=7, name="srv-disdik-09", status="planned",
                             tags=tuple(self.tags), custom_fields=dict(self.fields))  # fmt: skip

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        self.reads.append("changelog")
        return RequestHistory(additions=dict(self.additions), created=self.created)

    def users(self, usernames: list[str]) -> dict[str, NetBoxUser]:
        """Groups and full names in one read (a technician's name goes into the documents)."""
        self.reads.append("groups " + ",".join(usernames))
        return {u: NetBoxUser(username=u, full_name=f"{u.title()} Lab", groups=GROUPS.get(u, frozenset()))
                for u in usernames}  # fmt: skip

    def device_type_of(self, device_id: int) -> DeviceTypeFacts:
        self.reads.append("device type")
        return self.dtype

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        return [JournalEntry(id=i, kind=k, comments=c) for i, (k, c) in enumerate(self.journals)]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> JournalEntry:
        self.journals.append((kind, comments))
        return JournalEntry(id=len(self.journals), kind=kind, comments=comments)

    def change_tags(self, object_type: str, object_id: int, add: tuple[str, ...] = (),
                    remove: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:  # fmt: skip
        self.removed += [t for t in remove if t in self.tags]
        self.tags = [t for t in self.tags if t not in remove] + [t for t in add if t not in self.tags]
        return tuple(self.tags)

    def contact_emails(self, object_type: str, object_id: int, role: str) -> list[tuple[str, str]]:
        wanted = (object_type, object_id, role) == ("tenancy.tenant", 3, "teknis")
        return [("PIC Disdik", "pic-disdik@opd.lab")] if wanted else []


@dataclass
class FakeMailer:
    sent: list[Notice] = field(default_factory=list)

    def send(self, notice: Notice) -> str:
        self.sent.append(notice)
        return f"<{notice.key}@dc.lab>"


@dataclass
class SetClock:
    t: datetime = T0

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        raise AssertionError("a waiting step holds no thread")


@dataclass
class Wait:
    """One ``await_delivery`` step across its looks: the progress the run store keeps for it, the attempts. A new
    ``Wait`` over the same progress is the agent after a restart."""

    nb: FakeNetBox = field(default_factory=FakeNetBox)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    clock: SetClock = field(default_factory=SetClock)
    progress: dict[str, Any] = field(default_factory=dict)
    approved: dict[str, Any] = field(default_factory=lambda: {"device": DEVICE, "object": OBJECT,
                                                              "requester": "andi", "creator": "budi"})  # fmt: skip
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0

    def look(self, language: str = "id", at: datetime | None = None) -> StepResult:
        self.clock.t = at or self.clock.t
        self.attempt += 1
        svc = Services(load_settings(None, environ=ENV))
        svc.__dict__["netbox"], svc.__dict__["mailer"] = self.nb, self.mailer
        ctx = StepContext(run_id="run-7", playbook="colocation", step="delivery", request=ObjectRef("dcim.device", 7),
                          outputs={}, services=svc, locks=InProcessLocks(), clock=self.clock, params=self.params,
                          language=language,  # type: ignore[arg-type]
                          meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Jakarta"), created_for_request=True,
                                request_tag="sop-colocation", standards={"delivery": Standard(1, "wd")},
                                sop_office="Diskominfo Kota Batam"),
                          approved=self.approved, attempt=self.attempt, progress=dict(self.progress),
                          checkpoint=self.progress.update)  # fmt: skip
        return REGISTRY.get("await_delivery").run(ctx)

    def texts(self) -> list[str]:
        return [text for _kind, text in self.nb.journals]


def test_without_a_record_the_step_waits_and_says_who_must_act() -> None:
    w = Wait()
    result = w.look()
    assert result.outcome == "waiting" and result.until == T0 + timedelta(seconds=60)
    assert result.reasons == (WAITING_ID,)  # the run's reason: `dcagent runs show` and the object's page
    assert w.nb.reads == ["device"] and w.nb.journals == [] and w.mailer.sent == []  # one read per look
    w.params = {"poll_seconds": 300, "group": "petugas-jaringan"}
    later = w.look("en")
    assert later.until == T0 + timedelta(seconds=300)
    assert later.reasons == ("waiting for a technician (group petugas-jaringan) to record the server's arrival "
                             "(tag delivered)",)  # fmt: skip


def test_a_matching_delivery_is_accepted_as_people_type_the_serial() -> None:
    w = Wait()
    w.look()
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **{**RIGHT, "dcagent_delivered_serial": " cn7x2pq0042 "})
    result = w.look()
    assert result.outcome == "ok"
    # The facts as the technician recorded them go with the result: the handover form (SOP 004.7) shows them.
    assert dict(result.output) == {"serial": "cn7x2pq0042", "u_height": 2, "psu_count": 2, "delivered_by": "teknisi",
                                   "delivered_by_name": "Teknisi Lab",  # read with the groups: documents name them
                                   "delivered_at": "2026-11-24T03:00:00+00:00"}  # fmt: skip
    assert "delivered" in w.nb.tags and w.nb.removed == [] and w.mailer.sent == [] and w.nb.journals == []
    # The device as approved carries its type's height and PSUs: three reads (NetBox's changelog is the record).
    assert w.nb.reads[1:] == ["device", "changelog", "groups teknisi"]


def test_a_run_approved_before_the_type_s_psus_were_read_with_the_device_reads_the_type() -> None:
    old = {k: v for k, v in DEVICE.items() if k != "psu_templates"}
    w = Wait(approved={"device": old, "object": OBJECT, "requester": "andi", "creator": "budi"})
    w.nb.dtype = DeviceTypeFacts(model="PowerEdge R650", u_height=2.0, power_ports=1)
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **RIGHT)
    assert w.look().outcome == "waiting" and "device type" in w.nb.reads
    assert any("2 PSU, sedangkan tipe PowerEdge R650 dalam permohonan 1 PSU" in t for t in w.texts())


def test_a_record_by_someone_outside_the_group_is_refused_and_the_wait_goes_on() -> None:
    w = Wait()
    w.nb.record("staf", "2026-11-24T03:00:00+00:00", **RIGHT)
    result = w.look()
    assert result.outcome == "waiting" and result.reasons == (WAITING_ID,)
    assert w.nb.removed == ["delivered"] and "delivered" not in w.nb.tags  # the technician can record it again
    [(kind, text)] = w.nb.journals
    assert kind == "warning" and "oleh staf tidak diterima: bukan anggota grup teknisi di NetBox" in text
    assert w.nb.reads == ["device", "changelog", "groups staf"]  # the device type is not read for a refused record
    assert w.look().outcome == "waiting" and len(w.nb.journals) == 1  # said once
    w.nb.record("teknisi", "2026-11-24T04:00:00+00:00")
    assert w.look().outcome == "ok"


@pytest.mark.parametrize(("user", "approved", "reason"), [
    ("budi", {"creator": "budi"}, "pembuat keputusan adalah pembuat objek permohonan ini di NetBox"),
    ("andi", {"creator": "budi"}, "pembuat keputusan adalah pengaju permohonan ini"),
    # A run recorded before the creator was: the changelog's create entry, as the trigger says created_for_request.
    ("budi", {}, "pembuat keputusan adalah pembuat objek permohonan ini di NetBox"),
])  # fmt: skip
def test_the_requests_filer_or_creator_may_not_record_its_delivery(user: str, approved: dict[str, Any],
                                                                   reason: str) -> None:  # fmt: skip
    w = Wait(approved={"device": DEVICE, "object": OBJECT, "requester": "andi", **approved})
    w.nb.record(user, "2026-11-24T03:00:00+00:00", **RIGHT)  # both are in the group teknisi
    assert w.look().outcome == "waiting"
    assert w.nb.removed == ["delivered"] and any(reason in t for t in w.texts()), w.texts()


def test_a_server_of_another_height_is_a_finding_the_tag_goes_nothing_is_mounted_and_the_wait_goes_on() -> None:
    w = Wait()
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **{**RIGHT, "dcagent_delivered_u_height": 1})
    result = w.look()
    assert result.outcome == "waiting" and result.reasons == (WAITING_ID,)
    assert w.nb.removed == ["delivered"]
    finding = next(text for kind, text in w.nb.journals if kind == "warning")
    assert "tinggi 1U, sedangkan tipe PowerEdge R650 dalam permohonan 2U" in finding
    assert "Server tidak dipasang; tag delivered dilepas" in finding
    [notice] = w.mailer.sent
    assert notice.to == ("pic-disdik@opd.lab",) and "tidak sesuai permohonan" in notice.subject
    assert "- tinggi 1U, sedangkan tipe PowerEdge R650 dalam permohonan 2U\n" in notice.body
    assert any("Pemberitahuan dikirim ke pic-disdik@opd.lab" in t for t in w.texts())
    # The same record seen again (the tag's removal was lost): nothing said or sent twice, the tag removed again.
    w.nb.tags.append("delivered")
    entries = len(w.nb.journals)
    assert w.look().outcome == "waiting"
    assert len(w.nb.journals) == entries and len(w.mailer.sent) == 1 and w.nb.removed == ["delivered"] * 2
    w.nb.record("teknisi", "2026-11-25T03:00:00+00:00", **RIGHT)  # the right server, recorded anew
    assert w.look().outcome == "ok"


@pytest.mark.parametrize(("fields", "said"), [
    ({"dcagent_delivered_serial": "XX99"}, "S/N 'XX99' berbeda dari S/N dalam permohonan 'CN7X2PQ0042'"),
    ({"dcagent_delivered_psu_count": 1}, "1 PSU, sedangkan tipe PowerEdge R650 dalam permohonan 2 PSU"),
])  # fmt: skip
def test_another_serial_or_power_supply_count_is_a_finding_too(fields: dict[str, Any], said: str) -> None:
    w = Wait()
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **{**RIGHT, **fields})
    assert w.look().outcome == "waiting" and w.nb.removed == ["delivered"]
    assert any(said in t for t in w.texts()) and said in w.mailer.sent[0].body


def test_no_serial_filed_takes_the_delivered_one() -> None:
    w = Wait(approved={"device": {**DEVICE, "serial": ""}, "object": OBJECT, "requester": "andi", "creator": "budi"})
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **{**RIGHT, "dcagent_delivered_serial": "ZZ-1"})
    assert w.look().output["serial"] == "ZZ-1"


def test_the_reminder_comes_once_past_the_standard_in_office_time_even_across_a_restart() -> None:
    w = Wait()
    w.look(at=T0)  # Monday 16:00 WIB: the wait begins as the office closes
    w.look(at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))  # Tuesday 15:00 WIB: 7 of the day's 8 working hours
    assert w.nb.journals == [] and w.mailer.sent == []
    result = w.look(at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))  # Wednesday 09:00 WIB: 9 working hours
    assert result.outcome == "waiting" and result.reasons == (WAITING_ID,)
    reminder = next(text for kind, text in w.nb.journals if kind == "warning")
    assert reminder.startswith("Server belum diterima sejak 23 November 2026, 16.00 WIB, melewati standar 1 hari kerja")
    [notice] = w.mailer.sent
    assert notice.subject == "Pengingat: server srv-disdik-09 belum diterima di data center"
    assert "disiapkan sejak 23 November 2026, 16.00 WIB" in notice.body
    entries = len(w.nb.journals)
    w.look(at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    restarted = Wait(nb=w.nb, mailer=w.mailer, progress=w.progress, attempt=w.attempt)  # the agent restarted
    restarted.look(at=datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    assert len(w.mailer.sent) == 1 and len(w.nb.journals) == entries


@pytest.mark.parametrize(("fields", "said"), [
    ({"dcagent_delivered_u_height": "dua"}, "dcagent_delivered_u_height harus bilangan bulat 1 sampai 100, "
                                            "tercatat 'dua'"),
    ({"dcagent_delivered_psu_count": 2.5}, "dcagent_delivered_psu_count harus bilangan bulat 0 sampai 64"),
    ({"dcagent_delivered_u_height": True}, "dcagent_delivered_u_height harus bilangan bulat"),
    ({"dcagent_delivered_u_height": 0}, "dcagent_delivered_u_height harus bilangan bulat 1 sampai 100"),
    ({"dcagent_delivered_serial": "CN7X2\x07PQ0042"}, "dcagent_delivered_serial memuat karakter kendali"),
    ({"dcagent_delivered_serial": "  "}, "dcagent_delivered_serial kosong"),
    ({"dcagent_delivered_psu_count": None}, "dcagent_delivered_psu_count kosong"),
])  # fmt: skip
def test_values_that_cannot_be_read_are_journalled_the_tag_taken_off_and_the_wait_goes_on(
    fields: dict[str, Any], said: str
) -> None:
    w = Wait()
    w.nb.record("teknisi", "2026-11-24T03:00:00+00:00", **{**RIGHT, **fields})
    assert w.look().outcome == "waiting"
    [(kind, text)] = w.nb.journals
    assert kind == "warning" and said in text and "\x07" not in text
    # The tag off: facts corrected later by anyone would otherwise pass as the technician's record (review of 31).
    assert "delivered" not in w.nb.tags and w.nb.removed == ["delivered"] and w.mailer.sent == []
    assert w.look().outcome == "waiting" and len(w.nb.journals) == 1  # no tag: nothing more to say
    w.nb.record("teknisi", "2026-11-24T04:00:00+00:00", **RIGHT)  # corrected and recorded again, by the technician
    assert w.look().outcome == "ok"


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


def test_the_dry_run_is_one_check_line() -> None:
    svc = Services(load_settings(None, environ=ENV))
    ctx = StepContext(run_id="plan", playbook="colocation", step="delivery", request=ObjectRef("dcim.device", 7),
                      outputs={}, services=svc, locks=InProcessLocks(), clock=SetClock(),
                      approved={"object": OBJECT})  # fmt: skip
    assert REGISTRY.get("await_delivery").plan is not None
    [line] = REGISTRY.get("await_delivery").run_plan(ctx)
    assert (line.system, line.action, line.target) == ("NetBox", "check", "srv-disdik-09")
    assert "delivered" in line.detail and "teknisi" in line.detail


def test_a_record_made_before_this_request_was_filed_belongs_to_an_earlier_one() -> None:
    """A server delivered for an earlier request of the same device, since sent back: its tag and facts stayed on the
    device; this request's run must not take them for its own server (review of issue 31)."""
    w = Wait()
    w.nb.additions["sop-colocation"] = Approval(username="admin", time="2026-11-24T05:00:00+00:00")
    w.nb.record("teknisi", "2026-11-01T03:00:00+00:00", **RIGHT)
    assert w.look().outcome == "waiting"
    assert "delivered" not in w.nb.tags and any("2026-11-24T05:00:00" in text for _, text in w.nb.journals)
    w.nb.record("teknisi", "2026-11-24T06:00:00+00:00", **RIGHT)  # recorded again for this request
    assert w.look().outcome == "ok"
