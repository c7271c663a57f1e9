"""The NetBox contract: every tag, custom field and hook name dcagent reads or writes, in one place.

`dcagent bootstrap` (agent.setup.bootstrap) makes them in NetBox; the intake, the tracker and the lab's seed read
them from here, so a name is written once. The tags people add during a run (a delivery, a record, a retry) are
named by the playbooks: their functions below read them from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.engine.playbook import Playbook
from agent.steps.params import AwaitDelivery, AwaitRecord, VerifyMonitoring

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
# The outcome tags runs set on their object (agent.runtime.tracker); `running` while a run is active on it.
OUTCOME_TAGS: dict[str, str] = {"running": "dcagent-running", "done": "dcagent-done", "rejected": "dcagent-rejected",
                                "failed": "dcagent-failed", "planned": "dcagent-planned"}  # fmt: skip
OUTCOME_RUNNING = OUTCOME_TAGS["running"]
OTHER_TAGS: dict[str, tuple[str, str]] = {
    APPROVAL_TAG: ("4caf50", "Disetujui Kepala Bidang (yang menambahkan tag ini dicatat sebagai penyetuju)"),
    OUTCOME_RUNNING: ("2196f3", "Sedang dikerjakan dcagent"),
    OUTCOME_TAGS["done"]: ("009688", "Selesai dikerjakan dcagent"),
    "perlu-penarikan": ("795548", "Hasil pemeliharaan: perangkat harus ditarik dari data center"),
    OUTCOME_TAGS["planned"]: ("8bc34a", "Rencana dcagent siap, menunggu persetujuan"),
    OUTCOME_TAGS["rejected"]: ("ff9800", "Ditolak dcagent (lihat jurnal)"),
    OUTCOME_TAGS["failed"]: ("f44336", "Gagal; perubahan dibatalkan (lihat jurnal)"),
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


SYNC_HOOK = "dcagent zabbix-sync"  # the webhook and event rule of the NetBox → Zabbix sync's events


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
