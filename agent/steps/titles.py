"""Step titles for people, in the documents' language: what a Berita Acara lists instead of code names. A playbook
step's own ``title`` wins; a step without either is shown by its key."""

from __future__ import annotations

STEP_TITLES: dict[str, tuple[str, str]] = {
    "validate_request": ("Pemeriksaan kelengkapan permohonan", "Request checked for completeness"),
    "check_capacity": ("Pemeriksaan kapasitas (ruang, daya, bandwidth, IP, domain)",
                       "Capacity check (space, power, bandwidth, IP, domain)"),
    "confirm_plan": ("Pencocokan dengan rencana yang disetujui", "Checked against the approved plan"),
    "approval_form": ("Formulir persetujuan", "Approval form"),
    "acceptance_letter": ("Surat penerimaan (pengiriman server)", "Acceptance letter (ship the server)"),
    "place_device": ("Penempatan server di rak", "Server mounted in the rack"),
    "cable_switch_port": ("Pemasangan kabel ke switch", "Cabled to the switch"),
    "reserve_ip": ("Alokasi alamat IP", "IP address allocated"),
    "assign_ip": ("Pemasangan alamat IP pada server", "IP address assigned to the server"),
    "publish_dns": ("Pendaftaran nama domain (DNS)", "Domain name published (DNS)"),
    "configure_switch_port": ("Konfigurasi port switch (VLAN)", "Switch port configured (VLAN)"),
    "register_zabbix": ("Pendaftaran ke monitoring (Zabbix)", "Added to monitoring (Zabbix)"),
    "verify_monitoring": ("Uji konektivitas dan monitoring", "Reachability and monitoring tested"),
    "install_checklist": ("Daftar periksa instalasi", "Installation checklist"),
    "activate_device": ("Server dinyatakan aktif", "Server in service"),
    "handover_form": ("Serah terima dan pencatatan aset", "Handover and asset register"),
    "work_report": ("Berita acara", "Work report"),
}  # fmt: skip


def step_title(step_name: str, key: str, own: str | None, language: str) -> str:
    if own:
        return own
    pair = STEP_TITLES.get(step_name)
    return (pair[0] if language == "id" else pair[1]) if pair else key
