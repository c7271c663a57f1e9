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
    "journal.failed": {
        "id": "Gagal: **{title}**. {reasons}. Perubahan yang sudah dibuat telah dibatalkan.",
        "en": "Failed: **{title}**. {reasons}. Changes already made were undone.",
    },
    "journal.unknown_approver": {"id": "(tidak tercatat)", "en": "(not recorded)"},
}


def t(key: str, lang: Language, /, **values: object) -> str:
    text = MESSAGES[key].get(lang) or MESSAGES[key]["en"]
    return text.format(**values) if values else text
