"""The colocation's forms and letters before the server is in (agent.steps.forms): Central Java's approval form, with
the plan and the office's own NOC and approval tag from its params; Sumbawa's acceptance letter, where the server
will go; and its install checklist, the networking dcagent did marked done. Rendered into a temporary directory, each
journalled once. NetBox is the typed fake of tests/unit/test_handover.py."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps import forms  # noqa: F401  (registers its steps)
from agent.steps.services import Services
from tests.unit.test_delivery import DEVICE, ENV, OBJECT, SetClock
from tests.unit.test_handover import OfficeNetBox

CAPACITY = {
    "placement": {"rack_id": 2, "rack": "R02", "position": 12, "face": "front"},
    "switch": {"name": "tor-btm-02", "port": "swp7"},
    "power": [{"feed": "R02-A"}, {"feed": "R02-B"}],
    "bandwidth": {"requested_mbps": 100, "left_mbps": 600},
    "ip": {"prefix": "127.10.0.0/24"},
}
DONE = {
    "reserve_ip": {"address": "127.10.0.20/24"},
    "publish_dns": {"fqdn": "srv-disdik-09.dc.lab."},
    "configure_switch_port": {"switch": "tor-btm-02", "port": "swp7", "vlan": 110},
    "register_zabbix": {"host": "srv-disdik-09"},
}


def _ctx(tmp_path: Path, nb: OfficeNetBox, step: str, outputs: dict[str, Any],
         params: dict[str, Any] | None = None) -> StepContext:  # fmt: skip
    svc = Services(load_settings(None, environ={**ENV, "DCAGENT_REPORTS_DIR": str(tmp_path)}))
    svc.__dict__["netbox"] = nb
    device = {**DEVICE, "custom_fields": {"dcagent_requester_contact": "Andi, 0812"}}
    return StepContext(run_id="run-7", playbook="colocation-jateng", step=step, request=ObjectRef("dcim.device", 7),
                       outputs=outputs, services=svc, locks=InProcessLocks(), clock=SetClock(), language="en",
                       params=params or {}, meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Jakarta"),
                                                  approver="kadis"),
                       approved={"device": device, "object": OBJECT, "requester": "andi"})  # fmt: skip


def _page(result: Any) -> str:
    assert result.outcome == "ok", result.reasons
    assert Path(result.output["pdf"]).is_file()
    return html.unescape(Path(result.output["html"]).read_text(encoding="utf-8"))


def test_the_approval_form_shows_the_plan_and_the_offices_noc_and_approval_tag(tmp_path: Path) -> None:
    nb = OfficeNetBox()
    params = {"noc": "NOC Diskominfo Jateng", "approval_tag": "disetujui-kadis"}
    page = _page(REGISTRY.get("approval_form").run(_ctx(tmp_path, nb, "approval_form", {"check_capacity": CAPACITY},
                                                        params)))  # fmt: skip
    for row in ("<th>NOC</th><td>NOC Diskominfo Jateng</td>", "<td>dc-batam R02 U12</td>",
                "<th>Switch / port</th><td>tor-btm-02 / swp7</td>", "<td>R02-A, R02-B</td>",
                "<th>Bandwidth</th><td>100 Mbps / 600 Mbps</td>", "<td>Andi, 0812</td>"):  # fmt: skip
        assert row in page, row
    assert "add the tag disetujui-kadis to device srv-disdik-09" in page
    [(kind, entry)] = nb.journals
    assert kind == "info" and entry.startswith("Plan: dc-batam R02 U12, tor-btm-02 / swp7. Approval form")


def test_without_params_the_form_takes_the_models_defaults(tmp_path: Path) -> None:
    page = _page(REGISTRY.get("approval_form").run(_ctx(tmp_path, OfficeNetBox(), "approval_form",
                                                        {"check_capacity": CAPACITY})))  # fmt: skip
    assert "<th>NOC</th><td>-</td>" in page and "add the tag approved to device srv-disdik-09" in page


def test_the_acceptance_letter_says_where_the_server_will_go(tmp_path: Path) -> None:
    page = _page(REGISTRY.get("acceptance_letter").run(_ctx(tmp_path, OfficeNetBox(), "acceptance_letter",
                                                            {"check_capacity": CAPACITY})))  # fmt: skip
    assert "<td>dc-batam R02 U12</td>" in page and "<td>Dell PowerEdge R650, S/N CN7X2PQ0042</td>" in page
    assert "Please ship the server to the data centre" in page


def test_the_install_checklist_marks_what_dcagent_did_and_leaves_the_rest_to_the_team(tmp_path: Path) -> None:
    nb = OfficeNetBox()
    page = _page(REGISTRY.get("install_checklist").run(_ctx(tmp_path, nb, "install_checklist", DONE)))
    for done in ("127.10.0.20/24", "srv-disdik-09.dc.lab.", "tor-btm-02 / swp7 / 110", "srv-disdik-09"):
        assert f"{done}: done (dcagent)" in page, done
    assert page.count("by the team") == 5  # OS, drivers, software, load balancing, security
    assert len(nb.journals) == 1
