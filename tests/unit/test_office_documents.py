"""Office documents: dates as an office writes them, the asset register's number, the handover form's parts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.engine.errors import StepInputError
from agent.reports.dates import office_date
from agent.steps.handover import _part, asset_tag_for
from integrations.netbox import InventoryItem


@pytest.mark.parametrize(
    ("zone", "language", "text"),
    [
        ("Asia/Jakarta", "id", "2 Desember 2026, 08.09 WIB"),
        ("Asia/Makassar", "id", "2 Desember 2026, 09.09 WITA"),
        ("Asia/Jayapura", "en", "2 December 2026, 10:09 WIT"),
    ],
)
def test_dates_are_written_in_the_office_zone_and_language(zone: str, language: str, text: str) -> None:
    assert office_date(datetime(2026, 12, 2, 1, 9, tzinfo=UTC), zone, language) == text


def test_the_asset_tag_comes_from_the_playbook_template_and_is_checked() -> None:
    assert asset_tag_for("JTG/{year}/{id:05d}", 42, "dc-jateng", 2026) == "JTG/2026/00042"
    with pytest.raises(StepInputError, match="other than id, site, year"):
        asset_tag_for("{owner}-{id}", 42, "dc-jateng", 2026)
    with pytest.raises(StepInputError, match="not 1-50 letters"):
        asset_tag_for("{site} {id}", 42, "dc jateng; rm -rf", 2026)


def test_parts_are_found_by_role_or_by_name() -> None:
    items = [InventoryItem(name="CPU0", manufacturer="Intel", part_id="Xeon Silver 4314"),
             InventoryItem(name="slot A1", role="memory", part_id="32GB DDR4"),
             InventoryItem(name="Disk 0", description="960 GB SSD")]  # fmt: skip
    assert _part(items, "cpu") == "Intel Xeon Silver 4314"
    assert _part(items, "memory") == "32GB DDR4"
    assert _part(items, "storage") == "Disk 0 960 GB SSD"
    assert _part(items, "motherboard") == ""


def test_a_rejected_maintenance_or_withdrawal_gets_a_reply_titled_by_what_was_asked() -> None:
    """Issue 34: a refused maintenance got "SURAT BALASAN PERMOHONAN COLOCATION"."""
    from pathlib import Path

    import agent.steps  # noqa: F401  (registers the steps the playbooks name)
    from agent.engine.playbook import load_playbooks
    from agent.i18n import t
    from agent.reports.render import page
    from agent.steps.params import ReplyLetter

    books = load_playbooks(Path(__file__).resolve().parents[2] / "playbooks")
    subjects = {name: ReplyLetter.model_validate(ref.params).subject for name, pb in books.items()
                for ref in pb.all_steps() if ref.step == "reply_letter"}  # fmt: skip
    assert (subjects["maintenance"], subjects["withdrawal"], subjects["colocation"]) == (
        "maintenance", "withdrawal", "colocation")  # fmt: skip
    html = page("surat_balasan.html.j2", "id", title=t("doc.letter_title.maintenance", "id"), number="1",
                date="7 Desember 2026", letter_number="005/12", agency="Dinkes", device="srv-1", reasons=["x"],
                signatures=[{"caption": "", "title": "Kepala Bidang", "name": "Budi", "nip": ""}],
                letterhead=None, office="Diskominfo", sop_number="SOP 01", sop_title="",
                run_id="r")  # fmt: skip
    assert "SURAT BALASAN PERMOHONAN PEMELIHARAAN SERVER" in html and "COLOCATION" not in html
