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
from agent.steps.params import AwaitDelivery, AwaitRecord, VerifyMonitoring
from integrations.netbox import NetBoxClient
from integrations.netbox.inventory import OBJECT_TYPE

APPROVAL_TAG = "approved"

REQUEST_TAGS: dict[str, str] = {
    "sop-colocation": "Permohonan colocation server",
    "sop-new-network": "Permohonan jaringan baru",
    "sop-maintenance": "Pemeliharaan server",
    "sop-withdrawal": "Penarikan perangkat dari data center",
    "sop-backup": "Permintaan backup",
    "sop-backup-stop": "Penghentian backup",
    "sop-restore": "Permintaan restore",
}
OUTCOME_RUNNING = "dcagent-running"  # the tag an object carries while a run is active on it (agent.runtime.tracker)
OTHER_TAGS: dict[str, tuple[str, str]] = {
    APPROVAL_TAG: ("4caf50", "Disetujui Kepala Bidang (yang menambahkan tag ini dicatat sebagai penyetuju)"),
    OUTCOME_RUNNING: ("2196f3", "Sedang dikerjakan dcagent"),
    "dcagent-done": ("009688", "Selesai dikerjakan dcagent"),
    "perlu-penarikan": ("795548", "Hasil pemeliharaan: perangkat harus ditarik dari data center"),
    "dcagent-planned": ("8bc34a", "Rencana dcagent siap, menunggu persetujuan"),
    "dcagent-rejected": ("ff9800", "Ditolak dcagent (lihat jurnal)"),
    "dcagent-failed": ("f44336", "Gagal; perubahan dibatalkan (lihat jurnal)"),
}


@dataclass(frozen=True)
class CustomField:
    name: str
    label: str  # Indonesian, as engineers see it in NetBox
    type: str
    object_types: tuple[str, ...]
    description: str
    related_object_type: str | None = None
    written_by_agent: bool = False
    # Recorded by the data-centre team while a run waits (a delivered server's facts): no part of the request, so an
    # entry in one neither voids the approval nor costs the intake a read.
    recorded_during_run: bool = False


CUSTOM_FIELDS: tuple[CustomField, ...] = (
    CustomField("dcagent_letter_number", "Nomor surat permohonan", "text", ("dcim.device", "circuits.circuit"),
                "Nomor surat permohonan dari OPD"),
    CustomField("dcagent_requester_contact", "Kontak pemohon", "text", ("dcim.device", "circuits.circuit"),
                "Nama, jabatan dan telepon/email penanggung jawab di OPD"),
    CustomField("dcagent_purpose", "Peruntukan koneksi", "longtext", ("circuits.circuit",),
                "Untuk apa koneksi dipakai (layanan, pengguna)"),
    CustomField("dcagent_hosts_needed", "Jumlah host", "integer", ("circuits.circuit",),
                "Jumlah alamat IP yang dibutuhkan OPD (menentukan ukuran prefix)"),
    CustomField("dcagent_agency_location", "Lokasi OPD", "text", ("circuits.circuit",),
                "Alamat kantor OPD yang disambungkan"),
    CustomField("dcagent_requested_kbps", "Bandwidth baru diminta (kbps)", "integer", ("circuits.circuit",),
                "Permohonan kenaikan bandwidth: commit rate baru yang diminta OPD"),
    CustomField("dcagent_fqdn", "Nama domain (FQDN) yang diminta", "text", ("dcim.device",),
                "Contoh: simpeg.dc.lab"),
    CustomField("dcagent_server_vlan", "VLAN server", "object", ("dcim.device",), "VLAN tempat server ditempatkan",
                related_object_type="ipam.vlan"),
    CustomField("dcagent_bandwidth_mbps", "Bandwidth diminta (Mbps)", "integer", ("dcim.device",),
                "Bandwidth yang diminta OPD"),
    CustomField("dcagent_colocation_end", "Akhir masa colocation", "date", ("dcim.device",),
                "Kosong berarti permanen"),
    CustomField("dcagent_maintenance_start", "Mulai pemeliharaan", "datetime", ("dcim.device",),
                "Awal jendela pemeliharaan (waktu kantor bila tanpa zona waktu)"),
    CustomField("dcagent_maintenance_end", "Selesai pemeliharaan", "datetime", ("dcim.device",),
                "Akhir jendela pemeliharaan; status perangkat kembali seperti semula"),
    CustomField("dcagent_maintenance_collect", "Data tetap dikumpulkan", "boolean", ("dcim.device",),
                "Ya: Zabbix tetap mengumpulkan data selama pemeliharaan (tanpa alarm)"),
    CustomField("dcagent_maintenance_reason", "Alasan pemeliharaan", "longtext", ("dcim.device",),
                "Pekerjaan yang dilakukan dan oleh siapa"),
    CustomField("dcagent_affected_services", "Layanan terdampak", "longtext", ("dcim.device",),
                "Layanan yang berhenti sementara, satu per baris"),
    CustomField("dcagent_backup_paths", "Path yang di-backup", "longtext", ("dcim.device",),
                "Path absolut di server, satu per baris"),
    CustomField("dcagent_backup_schedule", "Jadwal backup (cron)", "text", ("dcim.device",),
                "Lima kolom cron: menit jam tanggal bulan hari, contoh 0 1 * * * (setiap pukul 01.00)"),
    CustomField("dcagent_backup_retention", "Retensi backup", "text", ("dcim.device",),
                "Contoh: daily=7 weekly=4 monthly=6"),
    CustomField("dcagent_restore_snapshot", "Snapshot yang di-restore", "text", ("dcim.device",),
                "ID snapshot atau latest"),
    CustomField("dcagent_restore_target", "Path tujuan restore", "text", ("dcim.device",),
                "Path absolut di server yang dikembalikan isinya"),
    CustomField("dcagent_uplink_mbps", "Kapasitas uplink (Mbps)", "integer", ("dcim.site",),
                "Kapasitas uplink internet/intranet site"),
    CustomField("dcagent_ups_budget_w", "Anggaran daya UPS (W)", "integer", ("dcim.powerpanel",),
                "Daya maksimum yang boleh dialokasikan dari UPS panel ini"),
    CustomField("dcagent_run_id", "Run dcagent", "text", ("dcim.device", "ipam.ipaddress", "dcim.cable"),
                "Run dcagent yang membuat/mengubah objek ini", written_by_agent=True),
    CustomField("dcagent_zabbix_hostid", "Host ID Zabbix", "text", ("dcim.device", "virtualization.virtualmachine"),
                "Host Zabbix yang memantau perangkat ini", written_by_agent=True),
    # What a technician records when the server arrives (agent.steps.delivery, with the tag `delivered`).
    CustomField("dcagent_delivered_serial", "S/N server yang diterima", "text", ("dcim.device",),
                "Diisi teknisi saat server tiba: nomor seri pada server", recorded_during_run=True),
    CustomField("dcagent_delivered_u_height", "Tinggi server yang diterima (U)", "integer", ("dcim.device",),
                "Diisi teknisi saat server tiba: tinggi server dalam U", recorded_during_run=True),
    CustomField("dcagent_delivered_psu_count", "Jumlah PSU server yang diterima", "integer", ("dcim.device",),
                "Diisi teknisi saat server tiba: jumlah power supply", recorded_during_run=True),
)  # fmt: skip


# What a requester fills in (not what dcagent writes back): an edit of one after the approval voids it.
REQUEST_FIELDS: frozenset[str] = frozenset(
    cf.name for cf in CUSTOM_FIELDS if not cf.written_by_agent and not cf.recorded_during_run
)


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


SYNC_HOOK = "dcagent zabbix-sync"


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


def delivery_tags(playbooks: Iterable[Playbook]) -> dict[str, tuple[str, str]]:
    """The tag a technician adds once the server has arrived (agent.steps.delivery)."""
    found: dict[str, tuple[str, str]] = {}
    for ref in (r for pb in playbooks for r in pb.all_steps() if r.step == "await_delivery"):
        p = AwaitDelivery.model_validate(ref.params)
        found.setdefault(p.tag, ("607d8b", f"Server telah tiba di data center (dicatat teknisi, grup {p.group})"))
    return found


def record_tags(playbooks: Iterable[Playbook]) -> dict[str, tuple[str, str]]:
    """The tag a member of a group adds once an act a run waits for is done (agent.steps.acts: e.g. `installed`)."""
    found: dict[str, tuple[str, str]] = {}
    for ref in (r for pb in playbooks for r in pb.all_steps() if r.step == "await_record"):
        p = AwaitRecord.model_validate(ref.params)
        found.setdefault(p.tag, ("3f51b5", f"Selesai: {p.what} (dicatat grup {p.group})"[:200]))
    return found


def retry_tags(playbooks: Iterable[Playbook]) -> dict[str, tuple[str, str]]:
    """The tag a technician adds to have a verification with no answer tried again (agent.steps.verify_retry)."""
    found: dict[str, tuple[str, str]] = {}
    for ref in (r for pb in playbooks for r in pb.all_steps() if r.step == "verify_monitoring"):
        p = VerifyMonitoring.model_validate(ref.params)
        if p.on_failure == "wait_for_retry":
            found.setdefault(p.retry_tag, ("ffc107", f"Ulangi verifikasi monitoring setelah perbaikan (grup "
                                                     f"{p.retry_group})"))  # fmt: skip
    return found


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
