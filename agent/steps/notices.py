"""Notices to an agency's people by e-mail (the tenant's contacts with the configured role), journalled.

A relay that is down is retried by the step's policy; after the last try the journal says the notice was not sent
and the step succeeds anyway (a maintenance window or a withdrawal does not wait for a mail relay). Sent once: the
Message-ID is recorded before the step returns, and a resumed attempt finds it.
"""

from __future__ import annotations

from typing import Any

from agent.engine.registry import RetryPolicy, StepContext
from agent.i18n import t
from agent.steps.reports import journal_once
from agent.steps.services import Services
from integrations.errors import IntegrationError
from integrations.mail import Notice
from integrations.netbox import DeviceSpec

NOTICE_RETRY = RetryPolicy(max_attempts=4, initial=5)


def send_notice(ctx: StepContext, svc: Services, spec: DeviceSpec, subject: str, body: str,
                event: str) -> dict[str, Any]:  # fmt: skip
    """Mail ``subject``/``body`` to the device's tenant's contacts; the step's output (sent, recipients, …)."""
    if ctx.progress.get("message_id"):
        return dict(ctx.progress)
    role = svc.settings.mail.contact_role if svc.settings.mail else "teknis"
    to = svc.netbox.contact_emails("tenancy.tenant", spec.tenant_id, role) if spec.tenant_id else []
    if not to:
        why = t("notices.no_contact", ctx.language, role=role)
        journal_once(svc, ctx, event, t("notices.not_sent", ctx.language, why=why))
        return {"sent": False, "recipients": [], "reason": why, "subject": subject}
    addresses = tuple(email for _name, email in to)
    try:
        message_id = svc.mailer.send(Notice(to=addresses, subject=subject, body=body, key=f"{ctx.run_id}.{event}"))
    except IntegrationError as e:
        if e.retryable and ctx.attempt < NOTICE_RETRY.max_attempts:
            raise
        journal_once(svc, ctx, event, t("notices.not_sent_to", ctx.language, to=", ".join(addresses), error=e))
        return {"sent": False, "recipients": list(addresses), "reason": str(e), "subject": subject}
    sent = {"sent": True, "recipients": list(addresses), "message_id": message_id, "subject": subject}
    ctx.checkpoint(**sent)
    journal_once(svc, ctx, event, t("notices.sent_to", ctx.language, to=", ".join(addresses), subject=subject))
    return sent
