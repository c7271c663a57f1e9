"""A small outside world for engine tests: a pool of numbered slots that steps reserve and release.

It stands for NetBox IPs or rack units: reservations carry the run's idempotency key, so a re-run finds them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.engine.errors import StepInputError
from agent.engine.playbook import Playbook
from agent.engine.registry import NoParams, PlannedChange, Registry, RetryPolicy, StepContext, StepResult, step
from agent.engine.store import RunView


class Flaky(Exception):
    retryable = True


class Outage(Exception):
    """The outside system is down (as integrations' TransientError says of a refused connection)."""

    retryable = True
    outage = True


class Crash(BaseException):
    """The agent dies here: no except clause of the engine catches it, the run stays as the store last saw it."""


@dataclass
class World:
    slots: int = 3
    held: dict[int, str] = field(default_factory=dict)  # slot -> idempotency key
    log: list[str] = field(default_factory=list)
    fail_at: set[str] = field(default_factory=set)
    flaky: dict[str, int] = field(default_factory=dict)  # step -> failures left before success
    outage: dict[str, int] = field(default_factory=dict)  # step -> attempts left that find the system down
    crash: dict[str, str] = field(default_factory=dict)  # step -> "before"/"after" its change: the agent dies, once
    during: dict[str, Callable[[], object]] = field(default_factory=dict)  # step -> called inside it, once
    opens_at: datetime | None = None  # the "window" step waits until then (a maintenance window's start)
    stall: dict[str, int] = field(default_factory=dict)  # step -> attempts left that hang until cancelled
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (step, its ctx.attempt) of every call, in order
    cancels: threading.local = field(default_factory=threading.local)  # the running attempt's cancel event
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, key: str) -> int | None:
        with self.lock:
            for slot, holder in self.held.items():
                if holder == key:
                    return slot
            free = [s for s in range(self.slots) if s not in self.held]
            if not free:
                return None
            self.held[free[0]] = key
            self.log.append(f"reserve {free[0]}")
            return free[0]

    def release(self, slot: int, key: str) -> None:
        with self.lock:
            if self.held.get(slot) == key:
                del self.held[slot]
                self.log.append(f"release {slot}")

    @contextmanager
    def scope(self, cancel: threading.Event) -> Iterator[None]:
        """The wiring's hook around each attempt (ExecutorOptions.step_scope, as integrations.cancel.scope is): an
        outside call of the attempt learns when it is cancelled."""
        self.cancels.event = cancel
        try:
            yield
        finally:
            del self.cancels.event

    def hang(self, name: str) -> None:
        """An outside call that never answers (a switch that stopped talking) until the attempt is cancelled."""
        cancel = getattr(self.cancels, "event", None)
        assert cancel is not None, "a stalling step needs ExecutorOptions(step_scope=world.scope)"
        cancel.wait(30)
        raise ConnectionError(f"{name}: no answer")


def make_registry(world: World) -> Registry:
    reg = Registry()

    def die(name: str, when: str) -> None:
        if world.crash.get(name) == when:
            del world.crash[name]
            raise Crash(f"killed {when} {name}")

    def check(ctx: StepContext, name: str) -> None:
        world.attempts.append((name, ctx.attempt))
        die(name, "before")
        if world.stall.get(name, 0) > 0:
            world.stall[name] -= 1
            world.hang(name)
        if (hook := world.during.pop(name, None)) is not None:
            hook()
        if world.flaky.get(name, 0) > 0:
            world.flaky[name] -= 1
            raise Flaky(f"{name} flaked")
        if world.outage.get(name, 0) > 0:
            world.outage[name] -= 1
            raise Outage(f"{name}: connection refused")
        if name in world.fail_at:
            raise StepInputError(f"{name} failed on purpose")

    def plan_reserve(ctx: StepContext, params: NoParams) -> list[PlannedChange]:
        free = [s for s in range(world.slots) if s not in world.held]
        if not free:  # as the step would: the request is rejected
            return [PlannedChange("world", "reject", "slot", f"no free slot: 0 of {world.slots} left")]
        return [PlannedChange("world", "create", f"slot {free[0]}")]

    def reserve(ctx: StepContext, params: NoParams) -> StepResult:
        with ctx.locks.hold("pool"):
            check(ctx, ctx.step)
            slot = world.reserve(ctx.idempotency_key)
            die(ctx.step, "after")
        if slot is None:
            return StepResult.rejected("no free slot: 0 of 3 left")
        return StepResult.ok(slot=slot)

    def unreserve(ctx: StepContext, params: NoParams, output: Mapping[str, Any]) -> None:
        check(ctx, f"undo:{ctx.step}")  # an undo's faults are keyed undo:<step>
        world.release(int(output["slot"]), ctx.idempotency_key)

    def note(ctx: StepContext, params: NoParams) -> StepResult:
        check(ctx, ctx.step)
        world.log.append(f"note {ctx.step}")
        die(ctx.step, "after")
        return StepResult.ok(seen=sorted(ctx.outputs))

    def window(ctx: StepContext, params: NoParams) -> StepResult:
        if world.opens_at is not None and ctx.clock.now() < world.opens_at:
            return StepResult.wait_until(world.opens_at, "the window has not opened yet")
        world.log.append("window open")
        return StepResult.ok(opened=ctx.clock.now().isoformat())

    def letter(ctx: StepContext, params: NoParams) -> StepResult:
        world.log.append("letter")
        return StepResult.ok(letter="surat-balasan.pdf")

    step("reserve", timeout=5, retry=RetryPolicy(max_attempts=3, initial=2), plan=plan_reserve, undo=unreserve,
         params=NoParams, registry=reg)(reserve)  # fmt: skip
    step("note", timeout=5, retry=RetryPolicy(max_attempts=3, initial=2), params=NoParams, registry=reg)(note)
    step("letter", timeout=5, params=NoParams, registry=reg)(letter)
    step("window", timeout=5, params=NoParams, registry=reg)(window)
    return reg


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self.t += timedelta(milliseconds=1)
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.t += timedelta(seconds=seconds)


@dataclass
class RecordingTracker:
    events: list[tuple[str, str, str]] = field(default_factory=list)
    writes: int = 0  # calls that would write to NetBox (the real tracker's journal entry and tags)
    firsts: list[bool] = field(default_factory=list)  # each finished report: known to be its first (no journal read)

    def started(self, run: RunView, playbook: Playbook, first: bool) -> None:
        self.writes += 1
        if ("started", run.id, "") not in self.events:
            self.events.append(("started", run.id, ""))

    def finished(self, run: RunView, playbook: Playbook, outcome: str, reasons: list[str], first: bool = False) -> None:
        self.firsts.append(first)
        event = ("finished", run.id, outcome)
        if event not in self.events:
            self.events.append(event)
