"""Central Java's handover (SOP 067/798 step 7, issue 31): the form (Berita Acara Serah Terima) is written at the
server's receipt, right after ``await_delivery``, and carries the specification check the SOP asks to attach: serial,
U height and PSU count as requested, as the technician recorded them, and whether they match; who received the
server and when. Without a delivery's record (a playbook without the wait) the rows say so instead of failing.

No lab: NetBox is the typed fake of tests/unit/test_delivery.py with what the form reads besides; the form is
rendered into a temporary directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import agent.steps  # noqa: F401  (registers every step)
from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar
from agent.engine.locks import InProcessLocks
from agent.engine.playbook import load_playbooks
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.steps.handover import HandoverParams, spec_check
from agent.steps.request import approved_device
from agent.steps.services import Services, services_of
from integrations.netbox import DeviceTypeFacts, InventoryItem
from tests.unit.test_delivery import DEVICE, ENV, OBJECT, ROOT, FakeNetBox, SetClock

# What await_delivery returns once the technician's record is accepted.
RECEIVED = {"serial": "CN7X2PQ0042", "u_height": 2, "psu_count": 2, "delivered_by": "teknisi",
            "delivered_at": "2026-11-24T03:00:00+00:00"}  # fmt: skip


@dataclass
class OfficeNetBox(FakeNetBox):
    """Besides the delivery's reads: the asset tag written, the server's parts, the signatories' names."""

    updates: list[dict[str, Any]] = field(default_factory=list)

    def update_device(self, device_id: int, fields: dict[str, Any]) -> None:
        self.updates.append(fields)

    def inventory_items(self, device_id: int) -> list[InventoryItem]:
        return [InventoryItem(name="CPU0", manufacturer="Intel", part_id="Xeon Silver 4314")]

    def user_names(self, usernames: list[str]) -> dict[str, str]:
        return {u: u.title() for u in usernames}


def _ctx(nb: OfficeNetBox, outputs: dict[str, Any], lang: str = "id", device: dict[str, Any] | None = None,
         reports: Path | None = None) -> StepContext:  # fmt: skip
    env = {**ENV, "DCAGENT_REPORTS_DIR": str(reports)} if reports else ENV
    svc = Services(load_settings(None, environ=env))
    svc.__dict__["netbox"] = nb
    return StepContext(run_id="run-7", playbook="colocation-jateng", step="handover_form",
                       request=ObjectRef("dcim.device", 7), outputs=outputs, services=svc, locks=InProcessLocks(),
                       clock=SetClock(), language=lang, params={"asset_tag": "JTG/{year}/{id:05d}"},  # type: ignore[arg-type]
                       meta=RunMeta(calendar=OfficeCalendar(timezone="Asia/Jakarta"), approver="kadis",
                             sop_office="Diskominfo Provinsi Jawa Tengah"),
                       approved={"device": device or DEVICE, "object": OBJECT, "requester": "andi"})  # fmt: skip


def _rows(ctx: StepContext) -> dict[str, str]:
    delivery = ctx.outputs.get("await_delivery", {})
    return dict(spec_check(services_of(ctx.services), ctx, approved_device(ctx), delivery))


def test_the_form_written_at_receipt_shows_the_spec_check_who_received_it_and_when(tmp_path: Path) -> None:
    nb = OfficeNetBox()
    ctx = _ctx(nb, {"await_delivery": RECEIVED, "place_device": {"rack": "R1", "position": 10}}, reports=tmp_path)
    result = REGISTRY.get("handover_form").run(ctx)
    assert result.outcome == "ok" and result.output["asset_tag"] == "JTG/2026/00007"
    html = Path(result.output["html"]).read_text(encoding="utf-8")
    for row in ("<th>Nomor seri</th><td>permohonan: CN7X2PQ0042; diterima (dicatat teknisi): CN7X2PQ0042; sesuai</td>",
                "<th>Tinggi server (U)</th><td>permohonan: 2U; diterima (dicatat teknisi): 2U; sesuai</td>",
                "<th>Jumlah catu daya (PSU)</th><td>permohonan: 2; diterima (dicatat teknisi): 2; sesuai</td>",
                "<th>Diterima oleh</th><td>teknisi</td>",
                "<th>Waktu penerimaan</th><td>24 November 2026, 10.00 WIB</td>",
                "<th>Rak / posisi</th><td>R1 U10</td>"):  # fmt: skip
        assert row in html, row
    # The requested values are those approved with the device: no read of NetBox for them.
    assert "device type" not in nb.reads and nb.updates == [{"asset_tag": "JTG/2026/00007"}]


def test_in_english_the_rows_say_matches() -> None:
    rows = _rows(_ctx(OfficeNetBox(), {"await_delivery": RECEIVED}, "en"))
    assert rows["Server height (U)"] == "requested: 2U; received (as the technician recorded it): 2U; matches"
    assert rows["Received at"] == "24 November 2026, 10:00 WIB" and rows["Received by"] == "teknisi"


def test_without_a_delivery_record_the_rows_say_not_recorded(tmp_path: Path) -> None:
    """An office playbook without the wait: the form is still written, and says what it could not check."""
    ctx = _ctx(OfficeNetBox(), {"place_device": {"rack": "R1", "position": 10}}, reports=tmp_path)
    assert REGISTRY.get("handover_form").run(ctx).outcome == "ok"
    rows = _rows(ctx)
    assert rows["Nomor seri"] == "permohonan: CN7X2PQ0042; penerimaan server tidak tercatat"
    assert rows["Jumlah catu daya (PSU)"] == "permohonan: 2; penerimaan server tidak tercatat"
    assert rows["Diterima oleh"] == rows["Waktu penerimaan"] == "tidak tercatat"


@pytest.mark.parametrize(("received", "row", "said"), [
    # As await_delivery compares the serial: as people type it, case aside.
    ({"serial": "cn7x2pq0042"}, "Nomor seri", "permohonan: CN7X2PQ0042; diterima (dicatat teknisi): cn7x2pq0042; "
                                              "sesuai"),
    ({"psu_count": 1}, "Jumlah catu daya (PSU)", "permohonan: 2; diterima (dicatat teknisi): 1; tidak sesuai"),
    # A run accepted before the delivery's output carried the server's height: that row alone is not recorded.
    ({"u_height": None}, "Tinggi server (U)", "permohonan: 2U; penerimaan server tidak tercatat"),
])  # fmt: skip
def test_each_row_compares_as_the_delivery_does(received: dict[str, Any], row: str, said: str) -> None:
    assert _rows(_ctx(OfficeNetBox(), {"await_delivery": {**RECEIVED, **received}}))[row] == said


def test_no_serial_filed_shows_the_one_received_and_a_type_read_when_the_approval_has_none() -> None:
    old = {k: v for k, v in DEVICE.items() if k != "psu_templates"} | {"serial": ""}
    nb = OfficeNetBox(dtype=DeviceTypeFacts(model="PowerEdge R650", u_height=2.0, power_ports=2))
    rows = _rows(_ctx(nb, {"await_delivery": {**RECEIVED, "serial": "ZZ-1"}}, device=old))
    assert rows["Nomor seri"] == "permohonan: -; diterima (dicatat teknisi): ZZ-1; tidak tercantum dalam permohonan"
    assert rows["Jumlah catu daya (PSU)"].endswith("; sesuai") and "device type" in nb.reads


def test_central_java_writes_the_form_right_after_the_receipt_from_outputs_made_before_it() -> None:
    pb = load_playbooks(ROOT / "playbooks")["colocation-jateng"]
    keys = [r.key for r in pb.steps]
    at = keys.index("handover_form")
    assert keys[at - 1] == "await_delivery"
    p = HandoverParams.model_validate(pb.steps[at].params)
    # What the form reads of other steps (agent.steps.handover: ctx.outputs) is there before it.
    assert all(keys.index(k) < at for k in ("place_device", p.delivery_from))
