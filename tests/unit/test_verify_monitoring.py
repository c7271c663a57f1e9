"""verify_monitoring reads the verification template's every-second check (a fresh value of 1 proves Zabbix reaches
the host, then the template is unlinked), or asks Zabbix to check the host now and reads the result when it can be
there: each look is a call, and the budget of a colocation counts them (issue 13). The clock is the fake one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.config.settings import load_settings
from agent.engine.errors import StepInputError
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps import monitoring  # noqa: F401  (registers its steps)
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


class Fresh:
    """A host with the verification template: its item's values (stamp offset from the step's start, value) appear
    at the given offsets; ``gone_after``: looks after which a sync has unlinked the template."""

    def __init__(self, clock: FakeClock, values: list[tuple[float, float, str]], gone_after: int | None = None,
                 refuse_unlink: int = 0) -> None:  # fmt: skip
        self.clock, self.values, self.gone_after, self.refuse_unlink = clock, values, gone_after, refuse_unlink
        self.start = clock.now()
        self.calls: list[str] = []
        self.unlinked: list[tuple[str, list[str]]] = []
        self.fallback = Zabbix(clock, 5.0)

    def item_stamps(self, host_id: str, keys: list[str]) -> dict[str, tuple[str, float, str]]:
        self.calls.append("item.get")
        if self.gone_after is not None and self.calls.count("item.get") > self.gone_after:
            return {"icmpping": ("501", 0.0, "")}
        now = (self.clock.now() - self.start).total_seconds()
        seen = [(stamp, value) for visible, stamp, value in self.values if visible <= now]
        stamp, value = seen[-1] if seen else (-1e9, "")
        return {"icmpping[,1]": ("601", self.start.timestamp() + stamp, value), "icmpping": ("501", 0.0, "")}

    def unlink_templates(self, host_id: str, template_ids: list[str]) -> None:
        self.calls.append("host.update")
        if self.refuse_unlink:
            self.refuse_unlink -= 1
            raise TransientError("Zabbix", "connection reset")
        self.unlinked.append((host_id, template_ids))

    def item(self, host_id: str, key: str) -> tuple[str, int, str]:
        self.calls.append("item.get")
        return self.fallback.item(host_id, key)

    def check_now(self, item_id: str) -> None:
        self.calls.append("task.create")
        self.fallback.check_now(item_id)


def _verify(
    zabbix: Zabbix | Fresh, clock: FakeClock, timeout: float = 240, registered: dict[str, str] | None = None
) -> object:
    environ = {"DCAGENT_NETBOX__URL": "http://nb", "DCAGENT_NETBOX__TOKEN": "t", "DCAGENT_ZABBIX__URL": "http://z",
               "DCAGENT_ZABBIX__TOKEN": "z", "DCAGENT_ZABBIX__CACHE_UPDATE_SECONDS": "2"}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["zabbix"] = zabbix
    # No answer: the error itself, as before (on_failure: fail); the finding and the wait are test_verify_retry's.
    ctx = StepContext(run_id="r", playbook="colocation", step="verify_monitoring", request=ObjectRef("dcim.device", 9),
                      outputs={"register_zabbix": {"host_id": "10700", **(registered or {})}}, services=svc,
                      locks=InProcessLocks(),
                      clock=clock, params={"timeout": timeout, "on_failure": "fail"}, meta=RunMeta(), language="en",
                      approved={})  # fmt: skip
    return REGISTRY.get("verify_monitoring").run(ctx)


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


def test_a_value_checked_after_the_step_began_verifies_in_one_look_then_the_template_goes() -> None:
    clock = FakeClock()
    zabbix = Fresh(clock, [(0.0, -0.5, "1"), (1.2, 0.4, "1")])  # a check just before the step, one just after
    result = _verify(zabbix, clock, registered={"verify_template": "10990"})
    assert result.outcome == "ok" and result.output["item"] == "icmpping[,1]"  # type: ignore[attr-defined]
    assert zabbix.calls == ["item.get", "host.update"] and zabbix.unlinked == [("10700", ["10990"])]


def test_a_value_from_before_the_step_does_not_verify_it() -> None:
    """A check made before the switch port was configured proves nothing about the network as it is now."""
    clock = FakeClock()
    zabbix = Fresh(clock, [(0.0, -0.2, "1"), (3.2, 2.9, "0"), (4.2, 3.9, "1")])
    result = _verify(zabbix, clock, registered={"verify_template": "10990"})
    assert result.outcome == "ok" and result.output["polls"] == 4  # type: ignore[attr-defined]
    assert zabbix.calls.count("host.update") == 1


def test_a_template_unlinked_meanwhile_falls_back_to_a_check_now() -> None:
    clock = FakeClock()
    zabbix = Fresh(clock, [(0.0, -0.2, "1")], gone_after=1)
    result = _verify(zabbix, clock, registered={"verify_template": "10990"})
    assert result.outcome == "ok" and result.output["item"] == "icmpping"  # type: ignore[attr-defined]
    assert "task.create" in zabbix.calls and zabbix.unlinked == []


def test_an_unlink_refused_once_is_tried_again_and_an_unreachable_host_times_out() -> None:
    clock = FakeClock()
    zabbix = Fresh(clock, [(1.0, 0.5, "1")], refuse_unlink=1)
    assert _verify(zabbix, clock, registered={"verify_template": "10990"}).outcome == "ok"  # type: ignore[attr-defined]
    assert zabbix.calls.count("host.update") == 2 and len(zabbix.unlinked) == 1
    silent = Fresh(clock, [(0.0, -1.0, "0")])
    with pytest.raises(TransientError, match="not reported reachable within 30s"):
        _verify(silent, clock, timeout=30, registered={"verify_template": "10990"})
    assert silent.unlinked == []


def test_a_host_without_its_own_icmp_item_is_refused_though_the_verification_reached_it() -> None:
    """After verification only the host's own templates stay: without an ICMP item nobody would see it go down."""
    clock = FakeClock()
    zabbix = Fresh(clock, [(1.0, 0.5, "1")])
    zabbix.item_stamps = lambda host_id, keys: {"icmpping[,1]": ("601", clock.now().timestamp(), "1")}  # type: ignore[method-assign]
    with pytest.raises(StepInputError, match="has no icmpping item"):
        _verify(zabbix, clock, registered={"verify_template": "10990"})
    assert zabbix.unlinked == []


def test_a_fallback_to_a_check_now_gets_only_what_is_left_of_the_steps_time() -> None:
    clock = FakeClock()
    zabbix = Fresh(clock, [], gone_after=12)  # unlinked by a sync 13.5 s in
    zabbix.fallback = Zabbix(clock, 1e9)  # the check-now never answers either
    with pytest.raises(TransientError, match="not reported reachable"):
        _verify(zabbix, clock, timeout=30, registered={"verify_template": "10990"})
    assert sum(clock.slept) <= 30 + 5.0  # one first-result wait may overrun the deadline, never a second 30 s
