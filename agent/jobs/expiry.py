"""Temporary colocations (a colocation with an end, `dcagent_colocation_end`; Central Java's "Masa Berlaku"):
reminders to the agency before the end (30 and 7 days by default), and on the day a withdrawal request opened on
the device — tagged, waiting for the officials' decisions like any request; never executed without them.

Each reminder is sent once per device and end date: a journal entry with its marker records it, and a check that
runs again the same day (or after a restart) finds the entry. Results are values: one device that fails does not
stop the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from agent.i18n import Language, t
from agent.reports.mail import render_mail
from integrations.errors import IntegrationError
from integrations.mail import Mailer, Notice
from integrations.netbox import Expiring, NetBoxClient

log = logging.getLogger("dcagent.jobs")
DEVICE = "dcim.device"


@dataclass(frozen=True)
class ExpiryAction:
    device: str
    end: date
    action: str  # "reminder-30", "reminder-7", "withdrawal-opened", "failed"
    detail: str = ""


def marker(end: date, what: str) -> str:
    return f"[dcagent expiry {end.isoformat()} {what}]"


def check_expiries(nb: NetBoxClient, mailer: Mailer | None, today: date, reminder_days: tuple[int, ...] = (30, 7),
                   withdrawal_tag: str = "sop-withdrawal", contact_role: str = "teknis",
                   language: Language = "id") -> list[ExpiryAction]:  # fmt: skip
    """One pass over the colocations ending within the longest reminder period; what was done, per device."""
    horizon = today.toordinal() + max(reminder_days, default=0)
    actions: list[ExpiryAction] = []
    for dev in nb.devices_ending_by(date.fromordinal(horizon)):
        try:
            done = _one(nb, mailer, dev, today, reminder_days, withdrawal_tag, contact_role, language)
        except IntegrationError as e:
            log.warning("expiry check failed", extra={"device": dev.name, "error": str(e)})
            done = ExpiryAction(dev.name, dev.end, "failed", str(e))
        if done is not None:
            actions.append(done)
    return actions


def _one(nb: NetBoxClient, mailer: Mailer | None, dev: Expiring, today: date, reminder_days: tuple[int, ...],
         withdrawal_tag: str, contact_role: str, language: Language) -> ExpiryAction | None:  # fmt: skip
    left = (dev.end - today).days
    if left <= 0:
        if withdrawal_tag in dev.tags:
            return None
        nb.change_tags(DEVICE, dev.id, add=[withdrawal_tag])
        text = t("expiry.withdrawal_opened", language, device=dev.name, end=dev.end.isoformat(), tag=withdrawal_tag)
        nb.add_journal(DEVICE, dev.id, "warning", f"{text}\n\n{marker(dev.end, 'withdrawal')}")
        return ExpiryAction(dev.name, dev.end, "withdrawal-opened", withdrawal_tag)
    period = min((d for d in reminder_days if left <= d), default=None)
    if period is None:
        return None
    tag = marker(dev.end, f"reminder-{period}")
    if any(tag in e.comments for e in nb.journal(DEVICE, dev.id)):
        return None
    subject, body = render_mail("expiry-reminder", language, device=dev.name, agency=dev.tenant or "-",
                                end=dev.end.isoformat(), days=left)  # fmt: skip
    to = nb.contact_emails("tenancy.tenant", dev.tenant_id, contact_role) if dev.tenant_id else []
    sent = ""
    if mailer is not None and to:
        addresses = tuple(e for _n, e in to)
        mailer.send(Notice(to=addresses, subject=subject, body=body, key=f"expiry.{dev.id}.{dev.end}.{period}"))
        sent = ", ".join(addresses)
    note = t("expiry.sent_to", language, to=sent) if sent else t("expiry.no_mail", language)
    nb.add_journal(DEVICE, dev.id, "info", f"{subject} — {note}.\n\n{tag}")
    return ExpiryAction(dev.name, dev.end, f"reminder-{period}", sent)
