"""Documents keep to the page (issue 17): each template laid out by WeasyPrint with the longest values a request
can carry (a 253-character FQDN, a path without spaces, a long error), and nothing may stick out past the right
margin — the check a person makes by looking at the printed page."""

from __future__ import annotations

from typing import Any

import pytest
from weasyprint import HTML

from agent.reports.render import _env, labels, overflowing

LONG = "/srv/" + "data-" * 60  # a path with no space to break at
FQDN = ".".join(["a" * 62] * 4)[:253]
ERROR = "configure_switch_port: PermanentError: " + "x" * 200
STEP = {"kind": "agent", "title": "Konfigurasi port switch " + "y" * 120, "sop_step": None, "note": None,
        "who": "dcagent", "when": "09.00.01", "duration": "4,2 detik", "std": "1 hari kerja", "within": True,
        "verdict": "sesuai standar"}  # fmt: skip
ACT = {**STEP, "kind": "wait", "title": "Menunggu kedatangan server", "note": "Menunggu sejak 8 Desember 2026",
       "who": "Ir. " + "N" * 60 + " (" + "u" * 40 + ")", "when": "10 Desember 2026, 10.15 WIB",
       "duration": "2 hari 1 jam 16 menit waktu kerja", "within": False, "verdict": "melebihi standar"}  # fmt: skip
GROUP = {**STEP, "kind": "group", "title": "Langkah dcagent sebelum menunggu kedatangan server: 4,2 detik"}
COMMON = {"office": "Diskominfo " + "Z" * 150, "sop_number": "556/STO/DKISS/2021", "sop_title": "Colocation",
          "run_id": "9f1c", "title": "t", "number": "BA/045/DC/XII/2026", "letterhead": None, "date": "2 Desember 2026",
          "letter_number": LONG, "agency": "Dinas " + "K" * 200,
          "signatures": [{"caption": "", "title": "Tim Data Center", "name": "N" * 90, "nip": ""},
                         {"caption": "Mengetahui,", "title": "Kepala Dinas " + "P" * 120, "name": "Ir. Siti",
                          "nip": "198001012005011001"},
                         {"caption": "Pemohon,", "title": "Dinas " + "K" * 200, "name": "", "nip": ""}]}  # fmt: skip
CONTEXTS: dict[str, dict[str, Any]] = {
    "document.html.j2": {"doc_title": "FORMULIR", "rows": [("Path", LONG), ("FQDN", FQDN)], "paragraphs": [ERROR],
                         "steps": [GROUP, STEP, ACT]},
    "surat_balasan.html.j2": {"device": FQDN, "reasons": [ERROR, LONG]},
    "berita_acara.html.j2": {
        "contact": LONG, "requester": "admin", "approver": "kabid", "decisions": [ACT],
        "steps": [GROUP, *[STEP] * 12, ACT],
        "device": {"name": FQDN, "manufacturer": "Dell", "model": "PowerEdge R650", "u_height": 1, "psus": 2,
                   "load_w": 700, "serial": LONG},
        "rack": "R1 U10 (front)", "power": [{"feed": "A" * 80, "panel": "P", "capacity_w": 1, "allocated_w": 1,
                                               "headroom_after_w": 0}],
        "ip": "10.0.0.1/24", "dns": FQDN, "switch": f"tor-btm-01 / swp1 / VLAN 110 {LONG}", "zabbix": FQDN,
    },
}  # fmt: skip


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_long_values_wrap_inside_the_page(template: str) -> None:
    html = _env.get_template(template).render(**COMMON, **CONTEXTS[template], L=labels("id"), lang="id")
    assert overflowing(HTML(string=html).render()) == []


def test_the_check_sees_what_sticks_out() -> None:
    wide = "<html><body><table><tr><td style='overflow-wrap: normal'>" + "w" * 400 + "</td></tr></table></body></html>"
    assert overflowing(HTML(string=wide).render())
