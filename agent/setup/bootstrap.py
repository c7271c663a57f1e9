"""`dcagent bootstrap`: the NetBox contract — tags, custom fields, the webhook and its event rules.

Idempotent: a second run reports every object ``unchanged``. It adopts objects that already exist (same slug or
name) and never deletes anything users made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.config.settings import ZabbixSyncSettings
from agent.engine.playbook import Playbook
from agent.reports.links import object_path
from agent.setup.contract import (
    CUSTOM_FIELDS,
    OTHER_TAGS,
    OUTCOME_RUNNING,
    REQUEST_TAGS,
    SYNC_HOOK,
    CustomField,
    delivery_tags,
    record_tags,
    retry_tags,
)
from integrations.netbox import NetBoxClient
from integrations.netbox.inventory import OBJECT_TYPE


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    what: str


def _custom_field_fields(cf: CustomField) -> dict[str, object]:
    fields: dict[str, object] = {
        "label": cf.label, "type": cf.type, "object_types": list(cf.object_types), "description": cf.description,
        "group_name": "dcagent", "ui_editable": "hidden" if cf.written_by_agent else "yes",
    }  # fmt: skip
    if cf.related_object_type:
        fields["related_object_type"] = cf.related_object_type
    return fields


def event_conditions(playbook: Playbook) -> dict[str, object]:
    """Fire when the object carries the request tag and a decision's tag (the approval, or any declared decision:
    one made by the wrong person is refused at once; a finished run removes them all) and, for an office playbook
    scoped by site only, when it is at one of its sites (a region is not in the webhook's data: a playbook scoped
    by region hears every site, and the intake decides)."""
    trigger = playbook.trigger
    assert trigger is not None
    decided: list[dict[str, object]] = [{"attr": "tags.slug", "value": d.tag, "op": "contains"} for d in trigger.chain]
    rules: list[dict[str, object]] = [
        {"attr": "tags.slug", "value": trigger.tag, "op": "contains"},
        decided[0] if len(decided) == 1 else {"or": decided},
        # An object a run is active on is heard through its own rule (active_conditions): one event, one webhook.
        {"attr": "tags.slug", "value": OUTCOME_RUNNING, "op": "contains", "negate": True},
    ]
    if trigger.sites and not trigger.regions:
        rules.append({"attr": "site.slug", "value": list(trigger.sites), "op": "in"})
    return {"and": rules}


def active_conditions() -> dict[str, object]:
    """Fire for an object a run is active on, or waits on, whatever its other tags: the technician's record a step
    waits for, and the request tag taken off to withdraw it (the request's own rule no longer matches then). The
    run's own writes come too, and are dropped unread (agent.intake.echo)."""
    return {"attr": "tags.slug", "value": OUTCOME_RUNNING, "op": "contains"}


def review_conditions(playbook: Playbook) -> dict[str, object]:
    """Fire when the object carries the playbook's review tag (at one of its sites, as for the request)."""
    trigger = playbook.trigger
    assert trigger is not None and trigger.review is not None
    rules: list[dict[str, object]] = [{"attr": "tags.slug", "value": trigger.review.tag, "op": "contains"}]
    if trigger.sites and not trigger.regions:
        rules.append({"attr": "site.slug", "value": list(trigger.sites), "op": "in"})
    return {"and": rules}


def custom_link_fields(object_type: str, public_url: str) -> dict[str, object]:
    """A "dcagent" button on the object's NetBox page, to its dcagent page (its runs, documents, pending
    decisions). NetBox renders the URL as a template: only the object's id goes in."""
    return {
        "object_types": [object_type], "enabled": True, "link_text": "dcagent", "weight": 100,
        "link_url": public_url.rstrip("/") + object_path(object_type, 0).removesuffix("/0") + "/{{ object.id }}",
        "button_class": "teal", "new_window": False,
    }  # fmt: skip


def custom_links(nb: NetBoxClient, playbooks: Mapping[str, Playbook], public_url: str | None) -> list[Change]:
    """One custom link per request object type (devices, circuits, …) when dcagent has a public address."""
    types = sorted({pb.trigger.object_type for pb in playbooks.values() if pb.trigger is not None})
    if public_url is None:
        return [Change("custom link", "dcagent", "skipped: set public_url")]
    changes = []
    for object_type in types:
        name = f"dcagent {object_type}"
        _, what = nb.ensure("extras", "custom_links", {"name": name}, custom_link_fields(object_type, public_url))
        changes.append(Change("custom link", name, what))
    return changes


def sync_event_conditions(settings: ZabbixSyncSettings) -> dict[str, object] | None:
    """The sync's scope as NetBox can tell it before delivering: its tag and site filters (the others are applied by
    dcagent when the event arrives)."""
    rules: list[dict[str, object]] = [{"attr": "tags.slug", "value": t, "op": "contains"}
                                      for t in settings.filters.get("tag", [])]  # fmt: skip
    if sites := settings.filters.get("site"):
        rules.append({"attr": "site.slug", "value": list(sites), "op": "in"})
    return {"and": rules} if rules else None


def sync_events(nb: NetBoxClient, webhook_url: str, webhook_secret: str, settings: ZabbixSyncSettings) -> list[Change]:
    """A webhook to ``<webhook_url>/sync`` and its event rule: a device or VM in scope created, edited or deleted
    has its Zabbix host brought in step within seconds (the scheduled sync catches what events missed)."""
    url = webhook_url.rstrip("/") + "/sync"
    hook_id, hooked = nb.ensure(
        "extras", "webhooks", {"name": SYNC_HOOK},
        {"payload_url": url, "http_method": "POST", "http_content_type": "application/json",
         "secret": webhook_secret, "ssl_verification": url.startswith("https")},
    )  # fmt: skip
    _, ruled = nb.ensure(
        "extras", "event_rules", {"name": SYNC_HOOK},
        {"object_types": [OBJECT_TYPE[k] for k in settings.kinds], "enabled": True,
         "event_types": ["object_created", "object_updated", "object_deleted"],
         "conditions": sync_event_conditions(settings), "action_type": "webhook",
         "action_object_type": "extras.webhook", "action_object_id": hook_id,
         "description": "NetBox → Zabbix: the object's host (dcagent sync zabbix)"},
    )  # fmt: skip
    return [Change("webhook", SYNC_HOOK, hooked), Change("event rule", SYNC_HOOK, ruled)]


def bootstrap(
    nb: NetBoxClient,
    playbooks: Mapping[str, Playbook],
    webhook_url: str | None,
    webhook_secret: str | None,
    contact_role: str | None = None,
    public_url: str | None = None,
    sync: ZabbixSyncSettings | None = None,
) -> list[Change]:
    changes: list[Change] = []
    changes += custom_links(nb, playbooks, public_url)
    if contact_role:  # whose e-mail gets an agency's notices (maintenance windows)
        _, what = nb.ensure("tenancy", "contact_roles", {"slug": contact_role},
                            {"name": contact_role, "description": "Penerima pemberitahuan dcagent"})  # fmt: skip
        changes.append(Change("contact role", contact_role, what))
    triggered = [pb for pb in playbooks.values() if pb.trigger is not None]
    changes += _tags(nb, triggered, playbooks.values())
    for cf in CUSTOM_FIELDS:
        _, what = nb.ensure("extras", "custom_fields", {"name": cf.name}, _custom_field_fields(cf))
        changes.append(Change("custom field", cf.name, what))
    if webhook_url is None or webhook_secret is None:
        changes.append(Change("webhook", "dcagent", "skipped: set webhook_url and webhook_secret"))
        return changes
    hook_id, what = nb.ensure(
        "extras", "webhooks", {"name": "dcagent"},
        {"payload_url": webhook_url, "http_method": "POST", "http_content_type": "application/json",
         "secret": webhook_secret, "ssl_verification": webhook_url.startswith("https")},
    )  # fmt: skip
    changes.append(Change("webhook", "dcagent", what))
    if sync is not None and sync.events:
        changes += sync_events(nb, webhook_url, webhook_secret, sync)
    return changes + _event_rules(nb, triggered, hook_id)


def _tags(nb: NetBoxClient, triggered: list[Playbook], playbooks: Iterable[Playbook]) -> list[Change]:
    """The request tags (an office's own playbook may bring its own), the decisions' tags (a tag several offices
    share keeps one text) and the tags people add during a run (delivery, records, retries)."""
    changes: list[Change] = []
    request_tags = dict(REQUEST_TAGS)
    for pb in triggered:
        assert pb.trigger is not None
        request_tags.setdefault(pb.trigger.tag, pb.title)
    for slug, description in request_tags.items():
        _, what = nb.ensure("extras", "tags", {"slug": slug}, {"name": slug, "color": "3f51b5",
                                                               "description": description})  # fmt: skip
        changes.append(Change("tag", slug, what))
    other_tags = dict(OTHER_TAGS)
    for pb in triggered:
        assert pb.trigger is not None
        for d in [*pb.trigger.chain, *([pb.trigger.review] if pb.trigger.review else [])]:
            other_tags.setdefault(d.tag, ("795548", f"{d.title}" + (f" (grup {d.group})" if d.group else "")))
    playbooks = list(playbooks)
    other_tags = retry_tags(playbooks) | other_tags  # a decision's own text wins
    other_tags = delivery_tags(playbooks) | record_tags(playbooks) | other_tags
    for slug, (color, description) in other_tags.items():
        _, what = nb.ensure(
            "extras", "tags", {"slug": slug}, {"name": slug, "color": color, "description": description}
        )
        changes.append(Change("tag", slug, what))
    return changes


def _event_rules(nb: NetBoxClient, triggered: list[Playbook], hook_id: int) -> list[Change]:
    """One rule per object type for the objects a run works on or waits on, and per playbook its request's rule
    (and its review's)."""
    changes: list[Change] = []
    for otype in sorted({pb.trigger.object_type for pb in triggered if pb.trigger is not None}):
        name = f"dcagent active runs {otype}"
        _, what = nb.ensure(
            "extras", "event_rules", {"name": name},
            {"object_types": [otype], "event_types": ["object_updated"], "enabled": True,
             "conditions": active_conditions(), "action_type": "webhook", "action_object_type": "extras.webhook",
             "action_object_id": hook_id, "description": "dcagent: objects a run works on or waits on"},
        )  # fmt: skip
        changes.append(Change("event rule", name, what))
    for pb in triggered:
        assert pb.trigger is not None
        name = f"dcagent {pb.name}"
        _, what = nb.ensure(
            "extras", "event_rules", {"name": name},
            {"object_types": [pb.trigger.object_type], "event_types": ["object_created", "object_updated"],
             "enabled": True, "conditions": event_conditions(pb), "action_type": "webhook",
             "action_object_type": "extras.webhook", "action_object_id": hook_id,
             "description": f"{pb.title} (SOP {pb.sop.number})"},
        )  # fmt: skip
        changes.append(Change("event rule", name, what))
        if pb.trigger.review is not None:
            _, what = nb.ensure(
                "extras", "event_rules", {"name": f"{name} review"},
                {"object_types": [pb.trigger.object_type], "event_types": ["object_updated"], "enabled": True,
                 "conditions": review_conditions(pb), "action_type": "webhook",
                 "action_object_type": "extras.webhook", "action_object_id": hook_id,
                 "description": f"{pb.trigger.review.title} — {pb.title}"},
            )  # fmt: skip
            changes.append(Change("event rule", f"{name} review", what))
    return changes
