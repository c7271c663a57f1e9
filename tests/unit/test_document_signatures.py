"""Officials as data (issue 34): each document signed as its SOP has it — Sumbawa's Berita Acara by the team, the
Kepala Seksi, the Kepala Dinas ("Mengetahui") and the agency (003.15) — with the names and NIPs the office's
playbook gives, the agency's representative from the request, and the block never split across a page."""

from __future__ import annotations

import html as entities
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from weasyprint import HTML

import agent.steps  # noqa: F401  (registers the steps the playbooks name)
from agent.config.settings import load_settings
from agent.engine.documents import DocumentsSpec
from agent.engine.errors import PlaybookError
from agent.engine.locks import InProcessLocks
from agent.engine.officials import Official
from agent.engine.playbook import Playbook, load_playbook
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.reports.render import _env, labels
from agent.steps.services import Services
from agent.steps.signatures import representative
from tests.unit.engine.world import FakeClock

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ENV = {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
       "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z"}  # fmt: skip
CONTACT = {"dcagent_requester_contact": "Sari Wulandari, 0812 3456 7890", "dcagent_letter_number": "005/123/XI/2026"}
OBJECT = {"object_type": "dcim.device", "id": 7, "name": "srv-simpeg-01", "status": "planned", "tags": [],
          "custom_fields": CONTACT, "tenant": "dinkes", "site": "dc-sumbawa"}  # fmt: skip
DEVICE = {"id": 7, "name": "srv-simpeg-01", "site_id": 1, "site": "dc-sumbawa", "rack_id": None, "position": None,
          "face": None, "status": "planned", "u_height": 2, "full_depth": True, "psu_draw_w": [350, 350],
          "data_interfaces": ["eno1"], "tenant_id": 3, "tenant": "Dinas Kesehatan", "role": "server",
          "platform": "linux", "serial": "SN1", "asset_tag": None, "device_type": "R650", "manufacturer": "Dell",
          "primary_ip": None, "custom_fields": CONTACT}  # fmt: skip
DECISIONS = [{"tag": tag, "title": tag.title(), "user": user, "time": f"2026-12-01T{hour}:00:00+08:00"}
             for tag, user, hour in (("disposisi", "kadis", "09"), ("verifikasi", "kabid", "10"),
                                     ("approved", "kasi", "11"))]  # fmt: skip


class NetBox:
    """The journal and the one read of full names a document makes."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def add_journal(self, _type: str, _id: int, _kind: str, _text: str) -> None:
        pass

    def user_names(self, usernames: list[str]) -> dict[str, str]:
        self.asked.append(usernames)
        known = {"budi": "Budi Santoso", "kadis": "Lalu Kadis"}
        return {u: known.get(u, u) for u in usernames}


def context(tmp_path: Path, documents: DocumentsSpec, netbox: NetBox | None = None, **approved: Any) -> StepContext:
    svc = Services(load_settings(None, environ={**ENV, "DCAGENT_REPORTS_DIR": str(tmp_path)}))
    svc.__dict__["netbox"] = netbox or NetBox()
    values = {"object": OBJECT, "device": DEVICE, "requester": "budi", "decisions": DECISIONS,
              "names": {"kabid": "Ir. Kabid"}, **approved}  # fmt: skip
    return StepContext(run_id="run-1", playbook="p", step="s", request=ObjectRef("dcim.device", 7), outputs={},
                       services=svc, locks=InProcessLocks(), clock=FakeClock(),  # type: ignore[arg-type]
                       meta=RunMeta(documents=documents, sop_office="Diskominfo", approver="kasi"),
                       approved=values)  # fmt: skip


def blocks(page: str) -> list[tuple[str, ...]]:
    """Each signature as (caption, title, name, NIP), in the order a reader reads them (a row's positions, then
    its names)."""
    parts: dict[str, dict[str, str]] = {}
    for i, inner in re.findall(r'<div class="signature" data-signature="(\d+)">(.*?)</div>\s*</td>', page, re.S):
        for cls, text in re.findall(r'<div class="(caption|title|name|nip)[^"]*">(.*?)</div>', inner, re.S):
            parts.setdefault(i, {})[cls] = entities.unescape(text)
    return [tuple(parts[i].get(k, "") for k in ("caption", "title", "name", "nip")) for i in sorted(parts)]


def sumbawa() -> Playbook:
    return load_playbook(PLAYBOOKS / "colocation-sumbawa.yaml")


def test_sumbawa_berita_acara_is_signed_by_the_team_kasi_kadis_and_the_agency_with_names_and_nips(
    tmp_path: Path,
) -> None:
    spec, netbox = sumbawa().documents, NetBox()
    ctx = context(tmp_path, spec, netbox)
    page = Path(REGISTRY.get("work_report").run(ctx).output["html"]).read_text(encoding="utf-8")
    kasi, kadis = spec.official("kepala-seksi"), spec.official("kepala-dinas")
    assert kasi is not None and kadis is not None and kasi.nip and kadis.nip
    assert blocks(page) == [
        ("", "Tim Data Center", "Budi Santoso", ""),  # the engineer who filed the request
        ("", kasi.title, str(kasi.name), f"NIP. {kasi.nip}"),  # who assigned the team (003.4)
        ("Mengetahui,", kadis.title, str(kadis.name), f"NIP. {kadis.nip}"),  # 003.15: known by the Kepala Dinas
        ("Pemohon,", "Dinas Kesehatan", "Sari Wulandari", ""),  # and by the agency: its representative
    ]
    assert all(re.fullmatch(r"\d{18}", str(o.nip)) for o in spec.officials)
    assert len(netbox.asked) == 1  # the filer and the deciders the step table names, in one read


def test_an_official_without_a_name_is_who_made_the_roles_decision_or_holds_it(tmp_path: Path) -> None:
    spec = DocumentsSpec(
        officials=[Official(role="kepala-seksi", title="Kepala Seksi"),
                   Official(role="kepala-dinas", title="Kepala Dinas", username="kadis", nip="19800101 200501 1 001")],
        signatures={"surat-penerimaan": [{"role": "kepala-seksi"}, {"role": "kepala-dinas", "caption": "Mengetahui,"}]},
    ).model_copy(update={"deciders": {"approved": "kepala-seksi"}})  # fmt: skip
    netbox = NetBox()
    ctx = context(tmp_path, spec, netbox, names={"kasi": "Ir. Kasi Yang Menugaskan"})
    page = Path(REGISTRY.get("acceptance_letter").run(ctx).output["html"]).read_text(encoding="utf-8")
    assert blocks(page) == [("", "Kepala Seksi", "Ir. Kasi Yang Menugaskan", ""),
                            ("Mengetahui,", "Kepala Dinas", "Lalu Kadis", "NIP. 198001012005011001")]  # fmt: skip
    assert netbox.asked == [["budi", "kadis"]]  # the filer and the holder of a role without a decision, in one read


def test_a_playbook_without_officials_signs_as_before(tmp_path: Path) -> None:
    """The agency's blank line, the team, the approving head (head_title, else "Kepala Bidang"); a reply letter
    the head alone."""
    ctx = context(tmp_path, DocumentsSpec(), names={"kasi": "Ir. Siti Rahmawati"})
    page = Path(REGISTRY.get("acceptance_letter").run(ctx).output["html"]).read_text(encoding="utf-8")
    assert blocks(page) == [("", "Perwakilan OPD", "", ""), ("", "Tim Data Center", "Budi Santoso", ""),
                            ("", "Kepala Bidang", "Ir. Siti Rahmawati", "")]  # fmt: skip
    assert "NIP." not in page and "Pemohon," not in page
    titled = context(tmp_path, DocumentsSpec(head_title="Kepala Seksi"), names={"kasi": "Ir. Siti Rahmawati"})
    letter = Path(REGISTRY.get("reply_letter").run(titled).output["html"]).read_text(encoding="utf-8")
    assert blocks(letter) == [("", "Kepala Seksi", "Ir. Siti Rahmawati", "")]


@pytest.mark.parametrize(
    ("contact", "name"),
    [("Sari, 0812", "Sari"), ("Ir. Sari Dewi, M.T., 0812 3456", "Ir. Sari Dewi"), ("0812 3456 7890", ""),
     ("sari@dinkes.go.id", ""), (None, "")],
)  # fmt: skip
def test_the_agencys_representative_is_the_name_in_the_requests_contact(contact: str | None, name: str) -> None:
    assert representative(contact) == name


def test_a_nip_that_is_not_18_digits_is_refused_when_the_playbook_loads(tmp_path: Path) -> None:
    text = (PLAYBOOKS / "colocation-sumbawa.yaml").read_text(encoding="utf-8")
    nip = str(sumbawa().documents.officials[1].nip)
    bad = tmp_path / "colocation-sumbawa.yaml"
    bad.write_text(text.replace(f'nip: "{nip}"', f'nip: "{nip[:17]}"'), encoding="utf-8")
    with pytest.raises(PlaybookError) as refused:
        load_playbook(bad)
    line = text[: text.index(nip)].count("\n") + 1
    assert f"colocation-sumbawa.yaml:{line}: documents.officials.1.nip: kepala-bidang: NIP '{nip[:17]}' is not 18 " \
           "digits (17 characters)" in str(refused.value)  # fmt: skip


@pytest.mark.parametrize(
    ("documents", "why"),
    [({"signatures": {"berita-acara": ["kepala-seksi"]}}, "kepala-seksi not among the officials"),
     ({"signatures": {"berita-acra": ["tim"]}}, "berita-acra: no such document"),
     ({"signatures": {"berita-acara": []}}, "at least one signing role"),
     ({"signatures": {"berita-acara": ["tim", "tim"]}}, "each role signs once"),
     ({"officials": [{"role": "kepala-dinas", "title": "Kepala Dinas", "nip": "198001012005011001"}]},
      "a NIP is one person's"),
     ({"officials": [{"role": "pemohon", "title": "OPD"}]}, "read from the request"),
     ({"officials": [{"role": "kepala-dinas", "title": "A"}, {"role": "kepala-dinas", "title": "B"}]},
      "repeated: kepala-dinas")],
)  # fmt: skip
def test_the_officials_and_signatures_are_checked_when_the_playbook_loads(documents: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        DocumentsSpec.model_validate(documents)


def test_each_role_is_linked_to_its_decisions_from_the_trigger() -> None:
    assert sumbawa().documents.deciders == {"disposisi": "kepala-dinas", "verifikasi": "kepala-bidang",
                                            "approved": "kepala-seksi"}  # fmt: skip


def _pages_of_each_signature(page: str) -> list[set[int]]:
    where: dict[str, set[int]] = {}
    for number, laid in enumerate(HTML(string=page).render().pages):
        stack = [laid._page_box]  # WeasyPrint's laid-out page, as agent.reports.render.overflowing reads it
        while stack:
            box = stack.pop()
            stack.extend(getattr(box, "children", None) or ())
            element = getattr(box, "element", None)
            if element is not None and element.get("data-signature") is not None:
                where.setdefault(str(element.get("data-signature")), set()).add(number)
    return [where[k] for k in sorted(where)]


def test_no_signature_is_split_across_a_page_wherever_the_page_ends() -> None:
    """The text above pushes the block down a few lines at a time, past the end of page 1: a signature (its
    position and its name, NIP) stays on one page, a row of two with it."""
    signatures = [{"caption": "", "title": "Tim Data Center", "name": "Budi Santoso", "nip": ""},
                  {"caption": "", "title": "Kepala Seksi Aplikasi dan E-Government", "name": "M. Iqbal, S.T.",
                   "nip": "198903042014021001"},
                  {"caption": "Mengetahui,", "title": "Kepala Dinas Komunikasi, Informatika, Statistik dan "
                   "Persandian", "name": "Syaifullah, S.Sos., M.Si.", "nip": "197004121993031005"},
                  {"caption": "Pemohon,", "title": "Dinas Kesehatan", "name": "Sari", "nip": ""}]  # fmt: skip
    layouts = []
    for lines in range(12, 40, 2):
        page = _env.get_template("document.html.j2").render(
            office="Diskominfo", sop_number="556/STO/DKISS/2021", sop_title="", run_id="r", title="t",
            doc_title="BERITA ACARA", number="BA/001/DC/XII/2026", letterhead=None, rows=[], steps=[],
            paragraphs=["Pekerjaan dilaksanakan."] * lines, signatures=signatures, L=labels("id"), lang="id",
        )  # fmt: skip
        pages = _pages_of_each_signature(page)
        assert len(pages) == 4 and all(len(p) == 1 for p in pages), (lines, pages)
        assert pages[0] == pages[1] and pages[2] == pages[3], (lines, pages)  # a row stays together
        layouts.append(tuple(min(p) for p in pages))
    assert (0, 0, 1, 1) in layouts and (1, 1, 1, 1) in layouts  # the page did end inside the block


def test_central_javas_handover_is_signed_by_the_technician_who_received_the_server(tmp_path: Path) -> None:
    """The form's "Diterima oleh" and its "Yang Menerima," are one person: the technician whose record of the
    arrival the run accepted (the request's filer may not record it), named as NetBox has them."""
    from dataclasses import replace

    from agent.steps.signatures import signatures

    spec = load_playbook(PLAYBOOKS / "colocation-jateng.yaml").documents
    ctx = replace(context(tmp_path, spec), outputs={"await_delivery": {
        "delivered_by": "teknisi", "delivered_by_name": "Rudi Teknisi"}})  # fmt: skip
    signed = signatures(ctx, spec, "serah-terima", {"budi": "Budi Santoso"})
    assert [(s["caption"], s["name"]) for s in signed] == [("Yang Menyerahkan,", "Sari Wulandari"),
                                                           ("Yang Menerima,", "Rudi Teknisi")]  # fmt: skip


def test_a_name_a_wait_recorded_never_replaces_a_name_read_at_approval() -> None:
    from agent.steps.reports import acted_names

    outputs = {"await_delivery": {"delivered_by": "teknisi", "delivered_by_name": "Rudi"},
               "other": {"approved_by": "kadis", "approved_by_name": "Not The Kepala Dinas"}}  # fmt: skip
    assert acted_names(outputs) == {"teknisi": "Rudi"}  # only the waits' own keys
