"""Temporary colocations on a fake calendar: a reminder 30 and 7 days before the end, each once, and on the day a
withdrawal request opened (tagged, waiting for its decisions: nothing runs); one failing device does not stop the
others."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from agent.jobs.expiry import check_expiries
from integrations.errors import TransientError
from integrations.mail import Notice
from integrations.netbox import Expiring

END = date(2027, 1, 31)


@dataclass
class FakeNetBox:
    devices: list[Expiring]
    journals: dict[int, list[str]] = field(default_factory=dict)

    def devices_ending_by(self, day: date) -> list[Expiring]:
        return [d for d in self.devices if d.end <= day]

    def journal(self, object_type: str, object_id: int) -> list[Any]:
        return [SimpleNamespace(comments=c) for c in self.journals.get(object_id, [])]

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> None:
        self.journals.setdefault(object_id, []).append(comments)

    def change_tags(self, object_type: str, object_id: int, add: list[str] = (), remove: list[str] = ()) -> None:  # type: ignore[assignment]
        i = next(n for n, d in enumerate(self.devices) if d.id == object_id)
        self.devices[i] = self.devices[i].model_copy(update={"tags": (*self.devices[i].tags, *add)})

    def contact_emails(self, object_type: str, object_id: int, role: str) -> list[tuple[str, str]]:
        return [("PIC", f"pic-{object_id}@opd.lab")]


@dataclass
class FakeMailer:
    sent: list[Notice] = field(default_factory=list)
    down_for: set[str] = field(default_factory=set)

    def send(self, notice: Notice) -> str:
        if any(a in self.down_for for a in notice.to):
            raise TransientError("mail", "127.0.0.1:25: timed out")
        self.sent.append(notice)
        return f"<{notice.key}@dc.lab>"


def _check(nb: FakeNetBox, mailer: FakeMailer, today: date) -> list[tuple[str, str]]:
    return [(a.device, a.action) for a in check_expiries(nb, mailer, today)]  # type: ignore[arg-type]


def test_reminders_come_once_each_and_the_day_opens_a_withdrawal_request_that_waits_for_its_decisions() -> None:
    nb = FakeNetBox([Expiring(id=7, name="srv-temp", end=END, tenant_id=3, tags=("dcagent-done",))])
    mailer = FakeMailer()
    assert _check(nb, mailer, date(2026, 12, 20)) == []  # 42 days left: nothing yet
    assert _check(nb, mailer, date(2027, 1, 1)) == [("srv-temp", "reminder-30")]
    assert _check(nb, mailer, date(2027, 1, 1)) == []  # a second pass the same day (or after a restart)
    assert _check(nb, mailer, date(2027, 1, 10)) == []
    assert _check(nb, mailer, date(2027, 1, 24)) == [("srv-temp", "reminder-7")]
    assert [n.to for n in mailer.sent] == [("pic-3@opd.lab",), ("pic-3@opd.lab",)]
    assert "2027-01-31" in mailer.sent[0].subject and "30 hari" in mailer.sent[0].subject
    assert _check(nb, mailer, END) == [("srv-temp", "withdrawal-opened")]
    assert "sop-withdrawal" in nb.devices[0].tags and "approved" not in nb.devices[0].tags
    assert _check(nb, mailer, END) == []  # opened once
    assert any("permintaan penarikan dibuka" in j for j in nb.journals[7])


def test_a_relay_that_is_down_for_one_agency_fails_that_reminder_only_and_it_is_sent_on_the_next_pass() -> None:
    nb = FakeNetBox([Expiring(id=7, name="srv-a", end=END, tenant_id=3, tags=()),
                     Expiring(id=8, name="srv-b", end=END, tenant_id=4, tags=())])  # fmt: skip
    mailer = FakeMailer(down_for={"pic-3@opd.lab"})
    assert _check(nb, mailer, date(2027, 1, 25)) == [("srv-a", "failed"), ("srv-b", "reminder-7")]
    mailer.down_for.clear()
    assert _check(nb, mailer, date(2027, 1, 25)) == [("srv-a", "reminder-7")]
