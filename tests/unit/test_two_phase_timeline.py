"""The two-phase timeline in the documents (issue 31): the Berita Acara's step table shows each person's act — the
decisions before the run, the wait for the server's delivery — with who acted, when (in words), its working time
against the SOP standard and the verdict, and the agent's own steps in seconds, summed per phase. The same
computation as ``dcagent runs show`` (agent.engine.phases). A SQLite run store, NetBox faked, WeasyPrint real."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from weasyprint import HTML

import agent.steps.reports  # noqa: F401  (registers the document steps)
from agent.config.settings import load_settings
from agent.engine.calendar import OfficeCalendar, parse_standard
from agent.engine.locks import InProcessLocks
from agent.engine.phases import AgentSpan, PersonAct, decision_acts, phases
from agent.engine.registry import REGISTRY, ObjectRef, StepContext
from agent.engine.run_meta import RunMeta
from agent.engine.store import NewStep, Store
from agent.engine.timeline import run_data
from agent.steps.services import Services
from agent.steps.step_table import seconds_words, span_words

FILED = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # Monday 08.30 WIB
DISPOSED = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 10.30 WIB: two working hours later
APPROVED = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # Tuesday 09.00 WIB
DELIVERED = datetime(2026, 12, 10, 3, 15, tzinfo=UTC)  # Thursday 10.15 WIB: past "1 hari"
BEFORE = [("check_capacity", 1.5), ("reserve_ip", 2.0), ("ship_request", 0.7)]  # 4.2 s
AFTER = [("register_zabbix", 1.1), ("configure_switch_port", 2.0)]  # 3.1 s
REQUEST: dict[str, Any] = {
    "requester": "admin", "filed_at": FILED.isoformat(), "names": {"kadis": "Dr. Agus Salim", "kabid": "Ir. Siti"},
    "decisions": [
        {"tag": "disposisi", "title": "Disposisi Kepala Dinas kepada Kepala Bidang", "user": "kadis",
         "sop_step": "000.2", "time": DISPOSED.isoformat(), "standard": "1 hari kerja", "within": True},
        {"tag": "approved", "title": "Persetujuan Kepala Bidang", "user": "kabid", "sop_step": "000.3",
         "time": APPROVED.isoformat(), "standard": "1 hari kerja", "within": True},
    ],
}  # fmt: skip


def _finish(store: Store, step_id: int, start: datetime, seconds: float) -> None:
    store.start_step(step_id, start)
    store.finish_step(step_id, "done", start + timedelta(seconds=seconds), output={})


def colocation_run(store: Store) -> str:
    """Decided, the agent's first steps, a wait of days for the technician's record, the agent's last steps."""
    keys = [k for k, _ in BEFORE] + ["await_delivery"] + [k for k, _ in AFTER] + ["work_report"]
    run_id, _ = store.create_run("colocation", ObjectRef("dcim.device", 7), "srv-simpeg-01", "webhook",
                                 [NewStep(k, k, 86400.0) for k in keys], APPROVED, approver="kabid",
                                 request=REQUEST)  # fmt: skip
    view = store.get_run(run_id)
    assert view is not None
    steps = {st.key: st.id for st in view.steps}
    at = APPROVED
    for key, seconds in BEFORE:
        _finish(store, steps[key], at, seconds)
        at += timedelta(seconds=seconds)
    store.start_step(steps["await_delivery"], at)
    for look in (at + timedelta(hours=4), at + timedelta(days=1)):  # no server yet: the wait goes on
        store.park_step(steps["await_delivery"], look, for_people=True)
        store.start_step(steps["await_delivery"], look)
    at = DELIVERED + timedelta(minutes=1)  # the look after the record finds it
    store.finish_step(steps["await_delivery"], "done", at, output={
        "serial": "SN1", "delivered_by": "teknisi1", "delivered_by_name": "Budi Teknisi",
        "delivered_at": DELIVERED.isoformat()})  # fmt: skip
    for key, seconds in AFTER:
        _finish(store, steps[key], at, seconds)
        at += timedelta(seconds=seconds)
    store.start_step(steps["work_report"], at)  # the document's own step is running
    return run_id


def test_the_timeline_splits_a_run_into_the_agents_phases_and_peoples_acts(store: Store) -> None:
    view = store.get_run(colocation_run(store))
    assert view is not None
    cal, standards = OfficeCalendar(), {"await_delivery": parse_standard("1 hari")}
    done = [st for st in view.steps if st.status == "done"]
    segments = phases(done, decision_acts(view.request, cal), cal, standards)
    assert [type(s).__name__ for s in segments] == ["PersonAct", "PersonAct", "AgentSpan", "PersonAct", "AgentSpan"]
    first, second, before, delivery, after = segments
    assert isinstance(before, AgentSpan) and isinstance(after, AgentSpan) and isinstance(delivery, PersonAct)
    assert isinstance(first, PersonAct) and first.measure.elapsed == 2 * 3600  # from the filing, in working time
    assert isinstance(second, PersonAct) and second.measure.elapsed == 6.5 * 3600  # overnight takes none
    assert round(before.seconds, 1) == 4.2 and round(after.seconds, 1) == 3.1
    assert [(a.user, a.at) for a in delivery.actors] == [("teknisi1", DELIVERED)]
    # measured from the wait's start (its first look), not its last: Tuesday 09.00 to Thursday 10.16 WIB
    assert delivery.measure.began == view.step("main", "await_delivery").started_at  # type: ignore[union-attr]
    assert delivery.measure.within is False and delivery.acted_at == DELIVERED
    data = {s["key"]: s for s in run_data(view, cal, standards)["steps"]}
    assert data["await_delivery"]["for_people"] is True and data["reserve_ip"]["for_people"] is False
    assert data["await_delivery"]["acted_by"] == [{"user": "teknisi1", "at": DELIVERED.isoformat()}]


def test_a_decision_recorded_without_the_filing_time_keeps_its_verdict() -> None:
    """Runs recorded before ``filed_at`` was kept: the first decision has no duration, its verdict stays."""
    old = {**REQUEST, "filed_at": None}
    first, second = decision_acts(old, OfficeCalendar())
    assert first.measure.elapsed is None and first.measure.within is True
    assert second.measure.elapsed == 6.5 * 3600


class NetBox:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.entries: list[str] = []

    def add_journal(self, _type: str, _id: int, _kind: str, text: str) -> None:
        self.entries.append(text)

    def user_names(self, usernames: list[str]) -> dict[str, str]:
        self.asked += usernames
        return {"teknisi1": "Budi Teknisi", "admin": "Andi Staf"}


class Clock:
    def now(self) -> datetime:
        return DELIVERED + timedelta(minutes=2)


DEVICE = {"id": 7, "name": "srv-simpeg-01", "site_id": 1, "site": "dc-batam", "rack_id": None, "position": None,
          "face": None, "status": "planned", "u_height": 1, "full_depth": True, "psu_draw_w": [350.0, 350.0],
          "data_interfaces": ["eth0"], "tenant_id": 3, "tenant": "BKPSDM", "role": "server", "platform": None,
          "serial": "SN1", "asset_tag": None, "device_type": "PowerEdge R650", "manufacturer": "Dell",
          "primary_ip": None, "custom_fields": {}}  # fmt: skip


def report_context(store: Store, tmp_path: Path, run_id: str, language: str = "id") -> Any:
    environ = {"DCAGENT_NETBOX__URL": "http://127.0.0.1:8001", "DCAGENT_NETBOX__TOKEN": "t",
               "DCAGENT_ZABBIX__URL": "http://127.0.0.1:8081", "DCAGENT_ZABBIX__TOKEN": "z",
               "DCAGENT_REPORTS_DIR": str(tmp_path / "reports")}  # fmt: skip
    svc = Services(load_settings(None, environ=environ))
    svc.__dict__["netbox"] = NetBox()
    obj = {"object_type": "dcim.device", "id": 7, "name": "srv-simpeg-01", "status": "planned", "tags": [],
           "custom_fields": {}, "tenant": "BKPSDM"}  # fmt: skip
    standards = {k: parse_standard("1 hari") for k in ("await_delivery", *(k for k, _ in BEFORE + AFTER))}
    return StepContext(
        run_id=run_id, playbook="colocation", step="work_report", request=ObjectRef("dcim.device", 7),
        outputs={"await_delivery": {"delivered_by": "teknisi1", "delivered_by_name": "Budi Teknisi"}},  # as run
        services=svc, locks=InProcessLocks(), clock=Clock(), language=language,  # type: ignore[arg-type]
        approved={**REQUEST, "object": obj, "device": DEVICE},
        meta=RunMeta(calendar=OfficeCalendar(), standards=standards, approver="kabid"),
        history=lambda: store.get_run(run_id),
    )  # fmt: skip


def step_table(page: str) -> list[str]:
    """The step table's rows as text, cells joined by " | "."""
    [table] = re.findall(r'<table class="steps">(.*?)</table>', page, flags=re.S)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S):
        cells = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split())
                 for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]  # fmt: skip
        rows.append(" | ".join(cells))
    return rows


def test_the_berita_acara_shows_the_peoples_acts_against_their_standard_and_the_agent_in_seconds(
    store: Store, tmp_path: Path
) -> None:
    ctx = report_context(store, tmp_path, colocation_run(store))
    result = REGISTRY.get("work_report").run(ctx)
    page = Path(result.output["html"]).read_text(encoding="utf-8")
    rows = step_table(page)
    assert rows[:4] == [
        "Langkah | Pelaksana | Waktu | Durasi | Standar SOP | Hasil",
        "Keputusan sebelum pelaksanaan",
        "Disposisi Kepala Dinas kepada Kepala Bidang (000.2) | Dr. Agus Salim (kadis) | 7 Desember 2026, 10.30 WIB"
        " | 2 jam waktu kerja | 1 hari kerja | sesuai standar",
        "Persetujuan Kepala Bidang (000.3) | Ir. Siti (kabid) | 8 Desember 2026, 09.00 WIB"
        " | 6 jam 30 menit waktu kerja | 1 hari kerja | sesuai standar",
    ]
    assert rows[4] == "Langkah dcagent sebelum menunggu kedatangan server: 4,2 detik (mulai 8 Desember 2026, 09.00 WIB)"
    assert rows[5].startswith("Pemeriksaan kapasitas") and "| dcagent | 09.00.00 | 1,5 detik | 1 hari kerja" in rows[5]
    assert rows[8:10] == [
        "Menunggu tindakan petugas",
        "Menunggu kedatangan server Menunggu sejak 8 Desember 2026, 09.00 WIB | Budi Teknisi (teknisi1)"
        " | 10 Desember 2026, 10.15 WIB | 2 hari 1 jam 16 menit waktu kerja | 1 hari kerja | melebihi standar",
    ]
    assert (
        rows[10] == "Langkah dcagent setelah menunggu kedatangan server: 3,1 detik (mulai 10 Desember 2026, 10.16 WIB)"
    )
    assert len(rows) == 13 and not any("Berita acara" in r for r in rows)  # the report's own step is not done yet
    assert not re.search(r"\d{4}-\d\d-\d\dT", page)  # no ISO timestamp anywhere: dates in words
    # The technician's name came with the delivery's check (read with their groups): only the signatory is read.
    assert ctx.services.netbox.asked == ["admin"]


def test_documents_of_runs_without_waits_list_the_agents_steps_as_one_phase(store: Store, tmp_path: Path) -> None:
    """Bandwidth, new network, maintenance, restore: no wait for people, one phase of the agent's steps."""
    run_id, _ = store.create_run("restore", ObjectRef("dcim.device", 7), "srv-simpeg-01", "cli",
                                 [NewStep("validate", "validate_request", 3600.0)], APPROVED)  # fmt: skip
    view = store.get_run(run_id)
    assert view is not None
    _finish(store, view.steps[0].id, APPROVED, 0.8)
    ctx = report_context(store, tmp_path, run_id, language="en")
    ctx = replace(ctx, approved={"object": ctx.approved["object"]})
    result = REGISTRY.get("restore_report").run(ctx)
    rows = step_table(Path(result.output["html"]).read_text(encoding="utf-8"))
    assert rows[1:] == [
        "dcagent's steps: 0.8 s (from 8 December 2026, 09:00 WIB)",
        "Request checked for completeness | dcagent | 09:00:00 | 0.8 s | 3600s | within the standard",
    ]


@pytest.mark.parametrize(
    ("seconds", "standard", "language", "text"),
    [
        (9 * 3600 + 59, "1 hari", "id", "1 hari 1 jam 1 menit waktu kerja"),  # a working day is the office's 8 hours
        (26 * 3600, "2 hari kalender", "id", "1 hari 2 jam"),
        (40, "2 jam", "en", "40 s of working time"),
        (None, "2 jam", "id", "-"),
    ],
)
def test_a_persons_time_is_written_as_its_standard_counts_it(
    seconds: float | None, standard: str, language: Any, text: str
) -> None:
    assert span_words(seconds, parse_standard(standard), OfficeCalendar(), language) == text


def test_the_agents_time_is_in_seconds() -> None:
    assert seconds_words(4.2, "id") == "4,2 detik"
    assert seconds_words(125.4, "id") == "2 menit 5 detik"
    assert seconds_words(3.1, "en") == "3.1 s"


def _lines(box: Any, inside: bool = False) -> Any:
    """The text of each laid-out line in the step table."""
    inside = inside or (getattr(box, "element_tag", None) == "table" and "steps" in (box.element.get("class") or ""))
    if inside and type(box).__name__ == "LineBox":
        yield "".join(getattr(t, "text", "") for t in box.descendants())
        return
    for child in getattr(box, "children", None) or ():
        yield from _lines(child, inside)


def test_the_step_table_never_splits_a_word(store: Store, tmp_path: Path) -> None:
    """Each line of the printed table ends between words ("melebih-i" was the fault of columns sized to nothing)."""
    ctx = report_context(store, tmp_path, colocation_run(store))
    page = Path(REGISTRY.get("work_report").run(ctx).output["html"]).read_text(encoding="utf-8")
    words = {w for row in step_table(page) for w in row.split()}
    document = HTML(string=page).render()
    lines = [line for p in document.pages for line in _lines(p._page_box)]
    assert len(lines) > 20
    assert [w for line in lines for w in line.split() if w not in words] == []
