"""A notice by e-mail: a relay that is down is retried by the step's policy, then journalled as not sent and the
step goes on; a notice sent is recorded, and a resumed attempt does not send it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from agent.engine.locks import InProcessLocks
from agent.engine.registry import ObjectRef, StepContext
from agent.engine.store import Store
from agent.steps.notices import NOTICE_RETRY, send_notice
from integrations.errors import TransientError
from integrations.mail import Notice
from tests.unit.test_expiry import FakeNetBox

SPEC = SimpleNamespace(id=7, name="srv-1", tenant_id=3)


@dataclass
class Relay:
    down: bool = False
    sent: list[Notice] = field(default_factory=list)

    def send(self, notice: Notice) -> str:
        if self.down:
            raise TransientError("mail", "127.0.0.1:25: cannot deliver (ConnectionRefusedError)")
        self.sent.append(notice)
        return f"<{notice.key}@dc.lab>"


def _ctx(attempt: int, progress: dict[str, Any], recorded: dict[str, Any]) -> StepContext:
    return StepContext(run_id="run-1", playbook="maintenance", step="announce_maintenance",
                       request=ObjectRef("dcim.device", 7), outputs={}, services=None, locks=InProcessLocks(),
                       clock=SimpleNamespace(), attempt=attempt, progress=progress, language="en",
                       checkpoint=lambda **kw: recorded.update(kw))  # type: ignore[arg-type]  # fmt: skip


def _services(relay: Relay, nb: FakeNetBox) -> Any:
    return SimpleNamespace(
        netbox=nb, mailer=relay, settings=SimpleNamespace(mail=SimpleNamespace(contact_role="teknis"))
    )


def test_a_relay_that_is_down_is_retried_then_journalled_and_the_step_goes_on() -> None:
    relay, nb, recorded = Relay(down=True), FakeNetBox([]), {}
    for attempt in range(1, NOTICE_RETRY.max_attempts):
        with pytest.raises(TransientError):  # the engine retries with backoff
            send_notice(_ctx(attempt, {}, recorded), _services(relay, nb), SPEC, "s", "b", "notice")  # type: ignore[arg-type]
    last = send_notice(_ctx(NOTICE_RETRY.max_attempts, {}, recorded), _services(relay, nb), SPEC, "s", "b",
                       "notice")  # type: ignore[arg-type]  # fmt: skip
    assert last["sent"] is False and "cannot deliver" in last["reason"] and relay.sent == [] and recorded == {}
    assert any("Notice not sent to pic-3@opd.lab" in j for j in nb.journals[7])


def test_a_notice_sent_is_recorded_and_a_resumed_attempt_does_not_send_it_again() -> None:
    relay, nb, recorded = Relay(), FakeNetBox([]), {}
    first = send_notice(_ctx(1, {}, recorded), _services(relay, nb), SPEC, "s", "b", "notice")  # type: ignore[arg-type]
    assert first["sent"] is True and recorded["message_id"] == "<run-1.notice@dc.lab>"
    again = send_notice(_ctx(2, recorded, {}), _services(relay, nb), SPEC, "s", "b", "notice")  # type: ignore[arg-type]
    assert again == first and len(relay.sent) == 1


# -- a notice that was not sent shows as failed wherever its step shows (issue 30, #16) ------------------------


def test_a_notice_not_sent_shows_as_failed_in_the_timeline_and_its_data(cli_store: Store) -> None:
    from typer.testing import CliRunner

    from agent.cli import app  # imported here: the CLI's import is heavy for the notice tests above
    from agent.engine.registry import ObjectRef
    from agent.engine.store import NewStep
    from agent.engine.timeline import calendar_of, run_data

    store = cli_store
    t0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    run_id, _ = store.create_run("withdrawal", ObjectRef("dcim.device", 42), "srv-disdik-01", "webhook",
                                 [NewStep("notify", "withdrawal_notice", 3600.0)], t0)  # fmt: skip
    view = store.get_run(run_id)
    assert view is not None
    store.start_step(view.steps[0].id, t0)
    store.finish_step(view.steps[0].id, "done", t0 + timedelta(seconds=2),
                      output={"sent": False, "recipients": ["it@x.go.id"], "reason": "mail: relay down"})  # fmt: skip
    store.set_run_status(run_id, "done", t0 + timedelta(seconds=3))
    shown = CliRunner().invoke(app, ["--lang", "en", "runs", "show", run_id[:8]])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if "notify" in line)
    assert "failed" in line and "✓" not in line and "done" not in line
    assert "   ! notice not sent: mail: relay down" in shown.output.splitlines()
    final = store.get_run(run_id)
    assert final is not None
    step = run_data(final, *calendar_of(None))["steps"][0]  # the JSON and the web page's run view
    assert step["shown_status"] == "failed" and step["error"] == "notice not sent: mail: relay down"
    assert step["status"] == "done"  # the engine's record stays as it was: the run did not wait for the relay
