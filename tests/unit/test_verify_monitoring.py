"""verify_monitoring asks Zabbix to check the new host now and reads the result when it can be there: each look is
a call, and the budget of a colocation counts them (issue 13). The clock is the fake one: no real waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.engine.locks import InProcessLocks
from agent.engine.registry import ObjectRef, StepContext
from agent.settings import load_settings
from agent.steps.monitoring import verify_monitoring
from agent.steps.services import Services
from integrations.errors import TransientError
from tests.unit.engine.world import FakeClock


class Zabbix:
    """An ICMP item whose result arrives ``result_after`` seconds after a check-now Zabbix did not drop."""

    def __init__(self, clock: FakeClock, result_after: float, dropped: int = 0) -> None:
        self.clock, self.result_after, self.dropped = clock, result_after, dropped
        self.calls: list[str] = []
        self.ready_at: object = None

    def item(self, host_id: str, key: str) -> tuple[str, int, str]:
        self.calls.append("item.get")
        ready = self.ready_at is not None and self.clock.now() >= self.ready_at
        return ("501", 1_800_000_000, "1") if ready else ("501", 0, "")

    def check_now(self, item_id: str) -> None:
        self.calls.append("task.create")
        if self.dropped:  # the item was not in the server's configuration cache yet
            self.dropped -= 1
            return
        self.ready_at = self.clock.now() + timedelta(seconds=self.result_after)


def _verify(zabbix: Zabbix, clock: FakeClock, timeout: float = 240, registered: dict[str, str] | None = None) -> object:
    environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
               "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_ZABBIX__CACHE_UPDATE_SECONDS": "2"}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["zabbix"] = zabbix
    ctx = StepContext(run_id="r", playbook="colocation", step="verify_monitoring", request=ObjectRef("dcim.device", 9),
                      outputs={"register_zabbix": {"host_id": "10700", **(registered or {})}}, services=svc,
                      locks=InProcessLocks(),
                      clock=clock, params={"timeout": timeout}, meta={}, language="en", approved={})  # fmt: skip
    return verify_monitoring(ctx)


@pytest.mark.parametrize(("after", "calls"), [(5.0, 3), (6.0, 4), (9.3, 6)])
def test_a_result_in_the_measured_five_to_nine_seconds_costs_three_to_six_calls(after: float, calls: int) -> None:
    clock = FakeClock()
    zabbix = Zabbix(clock, after)
    result = _verify(zabbix, clock)
    assert result.outcome == "ok"  # type: ignore[attr-defined]
    assert zabbix.calls.count("task.create") == 1 and len(zabbix.calls) == calls


def test_a_dropped_check_is_asked_again_once_overdue() -> None:
    clock = FakeClock()
    zabbix = Zabbix(clock, 5.0, dropped=1)
    assert _verify(zabbix, clock).outcome == "ok"  # type: ignore[attr-defined]
    assert zabbix.calls.count("task.create") == 2


def test_an_unreachable_host_fails_retryably_at_the_step_timeout() -> None:
    clock = FakeClock()
    zabbix = Zabbix(clock, 1e9)
    with pytest.raises(TransientError, match="not reported reachable within 30s"):
        _verify(zabbix, clock, timeout=30)


def test_a_host_just_registered_is_checked_once_the_servers_cache_has_synced() -> None:
    """Zabbix drops a check-now for a host its configuration cache does not hold yet (CacheUpdateFrequency, 2 s on
    the lab): the check is asked once, a sync after the registration, not asked early and again 10 s later."""
    clock = FakeClock()
    zabbix = Zabbix(clock, 5.0)
    registered_at = clock.now()
    clock.sleep(1.0)  # the steps between registration and verification took a second
    slept_before = len(clock.slept)
    result = _verify(zabbix, clock, registered={"registered_at": registered_at.isoformat()})
    assert result.outcome == "ok"  # type: ignore[attr-defined]
    assert clock.slept[slept_before] == pytest.approx(2.0, abs=0.01)  # until 3 s after the registration (sync 2 s + 1)
    assert zabbix.calls == ["item.get", "task.create", "item.get"]
