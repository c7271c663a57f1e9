"""Messages for people: Bahasa Indonesia by default, English available. Code and logs stay English."""

from __future__ import annotations

from typing import Literal

Language = Literal["id", "en"]

MESSAGES: dict[str, dict[Language, str]] = {
    "doctor.title": {"id": "Pemeriksaan dcagent", "en": "dcagent checks"},
    "doctor.system": {"id": "Sistem", "en": "System"},
    "doctor.target": {"id": "Sasaran", "en": "Target"},
    "doctor.status": {"id": "Status", "en": "Status"},
    "doctor.detail": {"id": "Keterangan", "en": "Detail"},
    "doctor.ok": {"id": "OK", "en": "OK"},
    "doctor.fail": {"id": "GAGAL", "en": "FAILED"},
    "doctor.skip": {"id": "DILEWATI", "en": "SKIPPED"},
    "doctor.summary_ok": {"id": "Semua pemeriksaan wajib lulus.", "en": "All required checks passed."},
    "doctor.summary_fail": {
        "id": "{n} pemeriksaan wajib gagal.",
        "en": "{n} required check(s) failed.",
    },
    "doctor.not_configured": {"id": "belum dikonfigurasi ({key})", "en": "not configured ({key})"},
    "doctor.no_switches": {
        "id": "NetBox tidak mencatat switch dengan peran {roles}",
        "en": "NetBox lists no switch with role {roles}",
    },
    "doctor.switch_unlisted": {
        "id": "daftar switch tidak bisa dibaca: {reason}",
        "en": "cannot list switches: {reason}",
    },
    "doctor.no_address": {
        "id": "switch tidak punya IP utama di NetBox",
        "en": "switch has no primary IP in NetBox",
    },
    "settings.error": {"id": "Kesalahan pengaturan", "en": "Settings error"},
    "journal.started": {
        "id": "dcagent memulai **{title}** (SOP {sop}, {office}). Disetujui oleh {approver} pada {approved_at}.",
        "en": "dcagent started **{title}** (SOP {sop}, {office}). Approved by {approver} at {approved_at}.",
    },
    "journal.done": {
        "id": "Selesai: **{title}**. Semua langkah berhasil.",
        "en": "Done: **{title}**. Every step succeeded.",
    },
    "journal.rejected": {
        "id": "Ditolak: **{title}**. Alasan: {reasons}",
        "en": "Rejected: **{title}**. Reasons: {reasons}",
    },
    "plan.missing": {
        "id": "belum ada rencana selesai yang dapat disetujui (formulir persetujuan); rencana sedang dibuat, "
        "setujui setelah rencana selesai",
        "en": "there is no finished plan to approve (approval form); a plan is being made, approve it when done",
    },
    "plan.changed": {
        "id": "permohonan diubah setelah rencana dibuat ({fields}); rencana baru sedang dibuat, setujui rencana itu",
        "en": "the request was edited after its plan was made ({fields}); a new plan is being made, approve that one",
    },
    "journal.planned": {
        "id": "Rencana selesai: **{title}**. Menunggu keputusan **{approval}** (tag {tag}).",
        "en": "Plan ready: **{title}**. Waiting for **{approval}** (tag {tag}).",
    },
    "journal.late": {
        "id": "Melewati standar waktu SOP (dihitung dalam jam kerja kantor): {items}",
        "en": "Past the SOP standard (counted in the office's working time): {items}",
    },
    "journal.failed_kept": {
        "id": "Gagal: **{title}**. {reasons}. Sudah dikerjakan dan tetap berlaku (tidak dibatalkan): {kept}. Belum "
        "dikerjakan: {pending}. Jalankan permintaan ini lagi untuk menyelesaikannya.",
        "en": "Failed: **{title}**. {reasons}. Done and kept (not undone): {kept}. Not done: {pending}. Run the "
        "request again to finish it.",
    },
    "journal.failed": {
        "id": "Gagal: **{title}**. {reasons}. Perubahan yang sudah dibuat telah dibatalkan.",
        "en": "Failed: **{title}**. {reasons}. Changes already made were undone.",
    },
    "cap.space": {
        "id": "ruang rak: tidak ada {height}U berurutan yang kosong di {racks}",
        "en": "rack space: no {height} contiguous free units in {racks}",
    },
    "cap.power": {
        "id": "daya: perlu {needed} jalur daya yang masing-masing sanggup {load:.0f} W, "
        "hanya {fitting} yang sanggup ({detail})",
        "en": "power: {needed} feed(s) each able to carry {load:.0f} W needed, only {fitting} can ({detail})",
    },
    "cap.ups": {
        "id": "UPS {panel}: {allocated:.0f} W teralokasi + {load:.0f} W melebihi anggaran {budget} W",
        "en": "UPS {panel}: {allocated:.0f} W allocated + {load:.0f} W exceeds the budget of {budget} W",
    },
    "cap.bandwidth": {
        "id": "bandwidth: diminta {want} Mbps, tersisa {left} Mbps dari uplink {uplink} Mbps",
        "en": "bandwidth: {want} Mbps requested, {left} Mbps left of the {uplink} Mbps uplink",
    },
    "cap.no_uplink": {
        "id": "bandwidth: kapasitas uplink site {site} belum dicatat (dcagent_uplink_mbps)",
        "en": "bandwidth: the uplink capacity of site {site} is not recorded (dcagent_uplink_mbps)",
    },
    "cap.ip": {"id": "alamat IP: tidak ada alamat bebas di prefix {prefix}", "en": "IP: no free address in {prefix}"},
    "cap.port": {
        "id": "jaringan: tidak ada port akses kosong di switch ToR rak {rack}",
        "en": "network: no free access port on the top-of-rack switch of rack {rack}",
    },
    "cap.outlet": {
        "id": "daya: PDU di rak {rack} tidak punya stopkontak kosong",
        "en": "power: the PDUs of rack {rack} have no free outlet",
    },
    "cap.no_switch": {
        "id": "jaringan: rak {rack} tidak punya switch ToR",
        "en": "network: rack {rack} has no ToR switch",
    },
    "cap.domain_netbox": {
        "id": "domain: {fqdn} sudah dipakai di NetBox ({where})",
        "en": "domain: {fqdn} is already used in NetBox ({where})",
    },
    "cap.domain_dns": {
        "id": "domain: {fqdn} sudah ada di DNS ({values})",
        "en": "domain: {fqdn} already exists in DNS ({values})",
    },
    "cap.fqdn": {
        "id": "domain: {fqdn} tidak dapat dipakai: {why}",
        "en": "domain: {fqdn} cannot be used: {why}",
    },
    "fqdn.empty": {"id": "nama domain kosong", "en": "the name is empty"},
    "fqdn.wildcard": {
        "id": "wildcard (*) akan menjawab untuk semua nama di zona {zone}",
        "en": "a wildcard (*) would answer for every name in the zone {zone}",
    },
    "fqdn.characters": {
        "id": "hanya huruf, angka, tanda hubung dan titik yang diizinkan",
        "en": "only letters, digits, hyphens and dots are allowed",
    },
    "fqdn.label": {
        "id": "setiap bagian nama 1-63 karakter, tidak diawali/diakhiri tanda hubung",
        "en": "each label must be 1-63 characters and not start or end with a hyphen",
    },
    "fqdn.length": {"id": "lebih dari 253 karakter", "en": "longer than 253 characters"},
    "fqdn.apex": {
        "id": "itu nama zona {zone} sendiri, bukan nama host di dalamnya",
        "en": "it is the zone {zone} itself, not a host name inside it",
    },
    "fqdn.outside": {
        "id": "di luar zona DNS yang dikelola ({zone})",
        "en": "outside the managed DNS zone ({zone})",
    },
    "intake.ambiguous": {
        "id": "permohonan di site {site} cocok dengan beberapa playbook ({playbooks}): tidak dijalankan; "
        "batasi trigger.sites/regions agar tiap kantor punya playbook sendiri",
        "en": "the request at site {site} matches several playbooks ({playbooks}): not run; narrow "
        "trigger.sites/regions so that each office has its own playbook",
    },
    "run.changed_after_approval": {
        "id": "diubah setelah disetujui ({fields}) — setujui kembali",
        "en": "changed after approval ({fields}) — approve again",
    },
    "decision.refused": {
        "id": "Keputusan **{title}** (tag {tag}) oleh {user} tidak diterima: {reason}. Tag dilepas; tidak ada yang "
        "dijalankan.",
        "en": "Decision **{title}** (tag {tag}) by {user} not accepted: {reason}. The tag was removed; nothing runs.",
    },
    "decision.self": {
        "id": "pembuat keputusan adalah pengaju permohonan ini",
        "en": "the decision maker filed this request",
    },
    "decision.group": {
        "id": "bukan anggota grup {group} di NetBox",
        "en": "not a member of the NetBox group {group}",
    },
    "decision.unknown_user": {
        "id": "pembuatnya tidak tercatat di changelog NetBox",
        "en": "who made it is not in NetBox's changelog",
    },
    "decision.out_of_order": {
        "id": "dibuat sebelum keputusan {before}",
        "en": "made before the decision {before}",
    },
    "decision.waiting": {"id": "menunggu keputusan {title} (tag {tag})", "en": "waiting for {title} (tag {tag})"},
    "review.closed": {
        "id": "Permohonan ditutup: **{title}** oleh {user} pada {time} (run {run}).",
        "en": "Request closed: **{title}** by {user} at {time} (run {run}).",
    },
    "review.nothing": {
        "id": "Tag {tag} dilepas: tidak ada pekerjaan selesai yang menunggu pemeriksaan.",
        "en": "Tag {tag} removed: no finished work is waiting for a review.",
    },
    "journal.unknown_approver": {"id": "(tidak tercatat)", "en": "(not recorded)"},
}


def t(key: str, lang: Language, /, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key]["en"]
    return text.format(**values) if values else text
