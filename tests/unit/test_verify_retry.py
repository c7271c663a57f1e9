"""verify_monitoring with no answer (issue 31 #4): a finding read from the switch the server is cabled to goes in the
journal and the run waits for a technician (a member of the retry group adds the retry tag, as the changelog says);
the step then verifies again. ``on_failure: fail`` keeps the old behaviour. Zabbix, NetBox and the switch are fakes
at their seams; the clock is the fake one; the step's progress is kept between attempts as the engine keeps it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.steps import monitoring  # noqa: F401  (registers its steps)
from agent.steps.params import VerifyMonitoring
from agent.steps.services import Services
from integrations.errors import TransientError
from integrations.netbox import Approval, JournalEntry, RequestHistory, RequestObject, SwitchRef
from integrations.ssh import SSHCredentials
from integrations.switches.base import MacEntry, Neighbor, PortState, filter_macs
from tests.unit.engine.world import FakeClock

DEVICE = ObjectRef("dcim.device", 9)
SERVER, OTHER = "52:54:00:aa:bb:01", "52:54:00:aa:bb:02"
SWITCH_REF = {"id": 5, "name": "tor-btm-01", "site": "dc-batam", "rack_id": 1, "platform": "fake",
              "host": "127.0.0.9", "ssh_port": 22}  # fmt: skip
ROUTER_REF = {**SWITCH_REF, "id": 6, "name": "core-btm-01", "host": "127.0.0.10"}  # a gateway on another device
OUTPUTS = {
    "register_zabbix": {"host_id": "10700"},
    "cable_switch_port": {"switch_id": 5, "switch_ref": SWITCH_REF, "switch": "tor-btm-01", "port": "swp3"},
    "configure_switch_port": {"switch": "tor-btm-01", "port": "swp3", "vlan": 110},
}


@dataclass
class Zabbix:
    """The host's ICMP item: 1 once ``answering`` (the server fixed), else no value."""

    clock: FakeClock
    answering: bool = False
    looks: int = 0

    def item(self, host_id: str, key: str) -> tuple[str, int, str]:
        self.looks += 1
        return ("501", int(self.clock.now().timestamp()), "1") if self.answering else ("501", 0, "")

    def check_now(self, item_id: str) -> None:
        pass


@dataclass
class NetBox:
    """The request device's tags, journal and changelog (who added a tag, when), the users' groups."""

    tags: set[str] = field(default_factory=set)
    added: dict[str, Approval] = field(default_factory=dict)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    macs: list[str] = field(default_factory=list)
    entries: list[tuple[str, str]] = field(default_factory=list)  # (kind, comments)
    calls: list[str] = field(default_factory=list)
    down: bool = False  # NetBox answering 502: every call raises a retryable error

    def tag(self, slug: str, user: str, when: str) -> None:
        self.tags.add(slug)
        self.added[slug] = Approval(username=user, time=when)

    def get_object(self, object_type: str, object_id: int) -> RequestObject:
        self.calls.append("get_object")
        if self.down:
            raise TransientError("netbox", "502 Bad Gateway")
        return RequestObject(object_type=object_type, id=object_id, name="srv-disdik-09", status="planned",
                             tags=tuple(sorted(self.tags)), custom_fields={})  # fmt: skip

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        self.calls.append("request_history")
        return RequestHistory(additions=dict(self.added))

    def user_groups(self, username: str) -> frozenset[str]:
        return self.groups.get(username, frozenset())

    def change_tags(self, object_type: str, object_id: int, add: tuple[str, ...] = (),
                    remove: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:  # fmt: skip
        self.calls.append("change_tags")
        self.tags = (self.tags | set(add)) - set(remove)
        return tuple(sorted(self.tags))

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        return [JournalEntry(id=i, kind=k, comments=c) for i, (k, c) in enumerate(self.entries)]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> JournalEntry:
        if self.down:
            raise TransientError("netbox", "502 Bad Gateway")
        self.entries.append((kind, comments))
        return JournalEntry(id=len(self.entries), kind=kind, comments=comments)

    def device_macs(self, device_id: int) -> list[str]:
        return list(self.macs)

    def switches(self, roles: list[str]) -> list[SwitchRef]:
        return [SwitchRef.model_validate(SWITCH_REF), SwitchRef.model_validate(ROUTER_REF)]


@dataclass
class Switch:
    """The ToR switch as the driver reads it: ports (admin state, link), its learned MAC table and its gateways' ARP
    entries (None: the switch does not show them to the session)."""

    ports: dict[str, tuple[bool, bool | None]]
    table: list[MacEntry] = field(default_factory=list)
    platform: str = "fake"
    neighbors: list[Neighbor] | None = field(default_factory=list)
    asked: list[int] = field(default_factory=list)  # the VLANs whose gateway's ARP was asked

    def get_port(self, name: str) -> PortState:
        enabled, link = self.ports[name]
        return PortState(name=name, enabled=enabled, mode="access", access_vlan=110, link_up=link)

    def mac_table(self, vid: int | None = None, port: str | None = None) -> list[MacEntry]:
        return filter_macs(self.table, vid, port)

    def gateway_neighbors(self, vid: int) -> list[Neighbor] | None:
        self.asked.append(vid)
        return self.neighbors

    def close(self) -> None:
        pass


@dataclass
class Driver:
    """The driver class for the fake platform (what ``Services.switch_drivers`` holds): opens the switch, or fails."""

    switch: Switch
    refused: TransientError | None = None
    opened: int = 0
    platform: str = "fake"
    others: dict[str, Switch] = field(default_factory=dict)  # other devices by name (a router holding the gateway)

    def open(self, host: str, port: int, creds: SSHCredentials, name: str) -> Switch:
        self.opened += 1
        if self.refused is not None:
            raise self.refused
        return self.others.get(name, self.switch)


@dataclass
class Step:
    """One verify_monitoring step run by the engine: each call is an attempt, its progress kept between them."""

    zabbix: Zabbix
    netbox: NetBox
    driver: Driver
    tmp: Path
    params: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    progress: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    outputs: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(OUTPUTS))

    def run(self) -> StepResult:
        params = {"timeout": 30, **self.params}
        VerifyMonitoring.model_validate(params)  # as the playbook loader checks them
        known = self.tmp / "known_hosts"
        known.write_text("")
        environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
                   "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_ZABBIX__CACHE_UPDATE_SECONDS": "2",
                   "DCAGENT_SWITCH_SSH__USERNAME": "dcagent", "DCAGENT_SWITCH_SSH__PASSWORD": "pw",
                   "DCAGENT_SWITCH_SSH__KNOWN_HOSTS": str(known)}  # fmt: skip
        svc = Services(load_settings(None, environ=environ))
        svc.__dict__["zabbix"], svc.__dict__["netbox"] = self.zabbix, self.netbox
        svc.switch_drivers = {"fake": self.driver}  # type: ignore[dict-item]
        self.attempts += 1
        ctx = StepContext(run_id="run-31", playbook="colocation", step="verify_monitoring", request=DEVICE,
                          outputs=self.outputs, services=svc, locks=InProcessLocks(), clock=self.zabbix.clock,
                          language=self.language, params=params, approved={"requester": "budi", "creator": "budi"},
                          attempt=self.attempts, progress=dict(self.progress),
                          checkpoint=self.progress.update)  # type: ignore[arg-type]  # fmt: skip
        return REGISTRY.get("verify_monitoring").run(ctx)


def _step(tmp_path: Path, switch: Switch | None = None, **kw: Any) -> Step:
    clock = FakeClock()
    sw = switch or Switch({"swp3": (True, True), "swp7": (True, True)})
    return Step(Zabbix(clock), NetBox(groups={"sari": frozenset({"teknisi"}), "andi": frozenset({"jaringan"})}),
                Driver(sw), tmp_path, **kw)  # fmt: skip


def _later(step: Step, seconds: float = 60) -> str:
    """A moment ``seconds`` on, as NetBox's changelog writes it; the clock moves there."""
    step.zabbix.clock.sleep(seconds)
    return step.zabbix.clock.now().isoformat()


def test_a_server_that_answers_is_verified_as_before_reading_no_switch_and_no_netbox(tmp_path: Path) -> None:
    step = _step(tmp_path, params={"on_failure": "wait_for_retry", "retry_tag": "retry-verification",
                                   "retry_group": "teknisi", "poll_seconds": 60})  # fmt: skip
    step.zabbix.answering = True
    result = step.run()
    assert result.outcome == "ok" and set(result.output) == {"reachable", "item", "seconds", "polls"}
    assert (step.driver.opened, step.netbox.calls, step.netbox.entries, step.progress) == (0, [], [], {})


def test_no_answer_journals_where_the_servers_mac_was_seen_and_waits_for_a_technician(tmp_path: Path) -> None:
    """The server's MAC (NetBox) learned on swp7 in VLAN 110, nothing on its port swp3: its cable is in swp7."""
    table = [MacEntry(mac=SERVER, vlan=110, port="swp7"), MacEntry(mac=OTHER, vlan=110, port="swp9")]
    switch = Switch({"swp3": (True, False), "swp7": (True, True)}, table)
    step = _step(tmp_path, switch, language="id")
    step.netbox.macs = [SERVER]
    result = step.run()
    assert result.outcome == "waiting"
    assert result.reasons == ("menunggu teknisi (grup teknisi): server tidak menjawab; lihat temuan di jurnal",)
    assert result.until == step.zabbix.clock.t + timedelta(seconds=60)
    [(kind, text)] = step.netbox.entries
    assert kind == "warning" and text.startswith("Temuan verifikasi #1: Zabbix tidak melihat server menjawab dalam "
                                                 "30 detik.")  # fmt: skip
    assert "- Port swp3 di tor-btm-01: link down, admin up." in text
    assert "- MAC di VLAN 110 di port lain switch ini: swp7: 52:54:00:aa:bb:01, swp9: 52:54:00:aa:bb:02." in text
    assert "terlihat di switch: swp7: 52:54:00:aa:bb:01 (VLAN 110)" in text
    assert "Kesimpulan: kabel server terpasang di port swp7, bukan di swp3" in text
    assert "anggota grup teknisi menambahkan tag retry-verification" in text
    state = step.progress
    assert (state["phase"], state["findings"], state["conclusion"]) == ("waiting", 1, "cable_elsewhere")
    assert step.run().outcome == "waiting" and len(step.netbox.entries) == 1  # no tag yet: it waits on, says nothing


def test_a_retry_tag_from_someone_outside_the_group_is_refused_and_the_wait_goes_on(tmp_path: Path) -> None:
    step = _step(tmp_path)
    assert step.run().outcome == "waiting"
    looks = step.zabbix.looks
    step.zabbix.answering = True  # would verify, were the retry accepted
    step.netbox.tag("retry-verification", "andi", _later(step))
    result = step.run()
    assert result.outcome == "waiting" and step.zabbix.looks == looks  # Zabbix not asked again
    assert "retry-verification" not in step.netbox.tags  # removed: a member may add it
    kind, text = step.netbox.entries[-1]
    assert kind == "warning" and text.startswith("Tag retry-verification by andi not accepted: not a member of the "
                                                 "NetBox group teknisi.")  # fmt: skip


def test_a_retry_tag_from_the_requests_filer_is_refused_though_a_member(tmp_path: Path) -> None:
    step = _step(tmp_path)
    step.netbox.groups["budi"] = frozenset({"teknisi"})  # budi filed the request (approved["requester"])
    assert step.run().outcome == "waiting"
    step.netbox.tag("retry-verification", "budi", _later(step))
    assert step.run().outcome == "waiting" and "the decision maker filed this request" in step.netbox.entries[-1][1]


def test_a_retry_tag_added_before_the_finding_is_refused(tmp_path: Path) -> None:
    step = _step(tmp_path)
    early = step.zabbix.clock.now().isoformat()  # tagged while the first verification still ran
    assert step.run().outcome == "waiting"
    step.netbox.tag("retry-verification", "sari", early)
    assert step.run().outcome == "waiting" and "added before the last finding" in step.netbox.entries[-1][1]


def test_a_retry_by_a_technician_verifies_again_and_the_run_goes_on(tmp_path: Path) -> None:
    step = _step(tmp_path)
    assert step.run().outcome == "waiting"
    step.netbox.tag("retry-verification", "sari", _later(step))
    step.zabbix.answering = True  # the technician plugged the cable in
    result = step.run()
    assert result.outcome == "ok" and result.output["reachable"] is True
    assert result.output["findings"] == 1 and result.output["conclusion"] == "silent"
    assert [r["by"] for r in result.output["retries"]] == ["sari"]
    assert "retry-verification" not in step.netbox.tags and len(step.netbox.entries) == 1


def test_a_retry_that_finds_no_answer_again_journals_a_second_finding_and_waits(tmp_path: Path) -> None:
    step = _step(tmp_path)
    assert step.run().outcome == "waiting"
    step.netbox.tag("retry-verification", "sari", _later(step))
    result = step.run()
    assert result.outcome == "waiting" and step.progress["findings"] == 2 and step.progress["phase"] == "waiting"
    assert [text.split(":")[0] for _, text in step.netbox.entries] == ["Verification finding #1",
                                                                        "Verification finding #2"]  # fmt: skip
    assert "retry-verification" not in step.netbox.tags


def test_a_switch_that_cannot_be_read_is_in_the_finding_and_the_run_still_waits(tmp_path: Path) -> None:
    step = _step(tmp_path)
    step.driver.refused = TransientError("switch tor-btm-01", "SSH connection refused")
    result = step.run()
    assert result.outcome == "waiting" and step.driver.opened == 1
    text = step.netbox.entries[0][1]
    said = "- Port swp3 on tor-btm-01: the switch could not be read (switch tor-btm-01: SSH connection refused)."
    assert said in text
    assert "Conclusion: the port's state is unknown" in text


def test_a_restart_between_the_finding_and_its_journal_entry_writes_it_once(tmp_path: Path) -> None:
    step = _step(tmp_path)
    step.run()
    step.progress["phase"] = "finding"  # as if killed right after recording the finding, its entry written or not
    assert step.run().outcome == "waiting" and len(step.netbox.entries) == 1
    step.netbox.entries.clear()
    step.progress["phase"] = "finding"
    assert step.run().outcome == "waiting" and len(step.netbox.entries) == 1


def test_on_failure_fail_keeps_the_old_behaviour(tmp_path: Path) -> None:
    step = _step(tmp_path, params={"on_failure": "fail"})
    with pytest.raises(TransientError, match="not reported reachable within 30s"):
        step.run()
    assert (step.driver.opened, step.netbox.entries, step.progress) == (0, [], {})


def test_bootstrap_makes_the_retry_tag_of_every_playbook_that_waits_for_one() -> None:
    import agent.steps  # noqa: F401  (registers every step)
    from agent.engine.playbook import load_playbooks
    from agent.setup.contract import retry_tags

    books = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks")
    assert retry_tags(books.values()) == {
        "retry-verification": ("ffc107", "Ulangi verifikasi monitoring setelah perbaikan (grup teknisi)")
    }


def test_netbox_down_during_the_wait_is_a_look_missed_not_an_undone_run(tmp_path: Path) -> None:
    """The step has one attempt and the engine counts each look as one: an outage during a wait of days must not
    fail it (that undoes the colocation). Review of issue 31."""
    step = _step(tmp_path)
    assert step.run().outcome == "waiting"
    step.netbox.down = True
    assert step.run().outcome == "waiting"  # the look is missed
    step.netbox.down = False
    step.zabbix.answering = True
    step.netbox.tag("retry-verification", "sari", _later(step))  # sari: the fixture's technician
    assert step.run().outcome == "ok"


def test_netbox_down_when_the_finding_is_journalled_writes_it_at_the_next_look(tmp_path: Path) -> None:
    step = _step(tmp_path)
    step.netbox.down = True
    assert step.run().outcome == "waiting" and step.netbox.entries == []
    step.netbox.down = False
    assert step.run().outcome == "waiting" and len(step.netbox.entries) == 1


def test_a_wait_for_zabbix_that_leaves_no_time_for_the_finding_is_refused_when_the_playbook_loads() -> None:
    from pydantic import ValidationError

    from agent.steps.params import VERIFY_DEADLINE, VERIFY_WAIT_MAX, VerifyMonitoring

    assert VerifyMonitoring(timeout=VERIFY_WAIT_MAX).timeout == VERIFY_WAIT_MAX
    assert VERIFY_DEADLINE - VERIFY_WAIT_MAX >= 120
    with pytest.raises(ValidationError, match="no time to read the switch"):
        VerifyMonitoring(timeout=VERIFY_WAIT_MAX + 1)
    assert VerifyMonitoring(timeout=3600, on_failure="fail").timeout == 3600  # failing needs no finding
