"""Withdrawal (agent.steps.withdrawal): the Zabbix host retired as the playbook's ``mode`` says, and the withdrawal
request a maintenance opens when the team found that the device must leave (SOP 002 step 8) — tagged, never run by
the maintenance. Typed fakes at the adapters; no lab."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from agent.config.settings import load_settings
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext, StepResult
from agent.steps import withdrawal  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from integrations.zabbix.maintenance import HostFacts
from tests.unit.engine.world import FakeClock
from tests.unit.test_delivery import DEVICE, ENV, OBJECT, FakeNetBox


@dataclass
class FakeZabbix:
    hosts: dict[str, str] = field(default_factory=lambda: {"10501": "srv-disdik-09"})  # id -> name
    monitored: dict[str, bool] = field(default_factory=dict)

    def host_by_tag(self, tag: str, value: str) -> HostFacts | None:
        assert (tag, value) == ("netbox_id", "7")
        return next((HostFacts(id=i, host=n, ips=("127.10.0.20",)) for i, n in self.hosts.items()), None)

    def host_id(self, name: str) -> str | None:
        return next((i for i, n in self.hosts.items() if n == name), None)

    def delete_hosts(self, ids: list[str]) -> None:
        for i in ids:
            self.hosts.pop(i)

    def set_monitored(self, host_id: str, monitored: bool) -> bool:
        self.monitored[host_id] = monitored
        return True


def _run(step: str, nb: Any = None, zabbix: FakeZabbix | None = None, params: dict[str, Any] | None = None,
         playbook: str = "withdrawal") -> StepResult:  # fmt: skip
    svc = Services(load_settings(None, environ=ENV))
    svc.__dict__.update(netbox=nb or FakeNetBox(), zabbix=zabbix or FakeZabbix())
    ctx = StepContext(run_id="run-w", playbook=playbook, step=step, request=ObjectRef("dcim.device", 7), outputs={},
                      services=svc, locks=InProcessLocks(), clock=FakeClock(), language="en", params=params or {},
                      approved={"device": DEVICE, "object": OBJECT})  # fmt: skip
    return REGISTRY.get(step).run(ctx)


def test_the_zabbix_host_is_disabled_by_default_and_deleted_when_the_playbook_says_so() -> None:
    zabbix = FakeZabbix()
    assert _run("retire_zabbix_host", zabbix=zabbix).output == {"host_id": "10501", "done": "disabled"}
    assert zabbix.monitored == {"10501": False} and zabbix.hosts == {"10501": "srv-disdik-09"}  # history kept
    assert _run("retire_zabbix_host", zabbix=zabbix, params={"mode": "delete"}).output["done"] == "deleted"
    assert zabbix.hosts == {}
    assert _run("retire_zabbix_host", zabbix=zabbix).output == {"host_id": None, "done": "no Zabbix host"}
    with pytest.raises(ValidationError):  # "remove" is no mode: it is refused, never taken for "disable"
        _run("retire_zabbix_host", zabbix=zabbix, params={"mode": "remove"})


def test_a_maintenance_that_found_the_device_must_leave_opens_its_withdrawal_request() -> None:
    nb = FakeNetBox(tags=["sop-maintenance", "approved", "perlu-penarikan"])
    result = _run("hand_off_withdrawal", nb, playbook="maintenance")
    assert result.output == {"withdrawal": True, "tag": "sop-withdrawal"}
    assert "sop-withdrawal" in nb.tags and "perlu-penarikan" not in nb.tags
    [(kind, entry)] = nb.journals
    assert kind == "info" and "sop-withdrawal" in entry


def test_the_offices_own_tags_and_no_finding_no_request() -> None:
    nb = FakeNetBox(tags=["sop-maintenance", "harus-keluar"])
    params = {"outcome_tag": "harus-keluar", "withdrawal_tag": "penarikan"}
    assert _run("hand_off_withdrawal", nb, params=params, playbook="maintenance").output["tag"] == "penarikan"
    assert nb.tags == ["sop-maintenance", "penarikan"]
    untouched = FakeNetBox(tags=["sop-maintenance"])
    assert _run("hand_off_withdrawal", untouched, playbook="maintenance").output == {"withdrawal": False}
    assert untouched.tags == ["sop-maintenance"] and untouched.journals == []
