"""Messages as translators expect (issue 17): gettext catalogs, found by Babel's extraction, corrected by an office
without touching code."""

from __future__ import annotations

import re
import string
from pathlib import Path

from babel.messages.extract import extract

from agent.i18n import LOCALE_DIR, catalog, t, use_locale_dir

ROOT = Path(__file__).resolve().parents[2]


def placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_message_the_code_asks_for_is_in_both_catalogs_with_the_same_placeholders() -> None:
    used: set[str] = set()
    for path in sorted((ROOT / "agent").rglob("*.py")):
        if not re.search(r"^from agent\.i18n import .*\bt\b", path.read_text(encoding="utf-8"), re.MULTILINE):
            continue  # another function named t
        with path.open("rb") as f:
            used |= {m[1] for m in extract("python", f, keywords={"t": None}) if isinstance(m[1], str)}
    ids, en = catalog("id"), catalog("en")
    assert len(used) > 30 and used <= set(ids) and used <= set(en), sorted(used - set(ids) - set(en))
    assert set(ids) == set(en)
    assert all(ids[k] and en[k] for k in ids), [k for k in ids if not (ids[k] and en[k])]
    assert {k for k in ids if placeholders(ids[k]) != placeholders(en[k])} == set()


def test_an_office_corrects_a_wording_in_its_own_catalog(tmp_path: Path) -> None:
    own = tmp_path / "id" / "LC_MESSAGES"
    own.mkdir(parents=True)
    (own / "dcagent.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: id\\n"\n\nmsgid "doctor.summary_fail"\nmsgstr "{n} pemeriksaan WAJIB gagal."\n'
        '\nmsgid "doctor.title"\nmsgstr ""\n',
        encoding="utf-8",
    )
    try:
        use_locale_dir(tmp_path)
        assert t("doctor.summary_fail", "id", n=2) == "2 pemeriksaan WAJIB gagal."
        assert t("doctor.title", "id") == "Pemeriksaan dcagent"  # an empty entry keeps the shipped one
        assert t("doctor.summary_fail", "en", n=2) == "2 required check(s) failed."
    finally:
        use_locale_dir(None)
    assert t("doctor.summary_fail", "id", n=2) == "2 pemeriksaan wajib gagal."
    assert (LOCALE_DIR / "id" / "LC_MESSAGES" / "dcagent.po").is_file()


def test_every_status_and_every_steps_title_a_person_reads_is_in_the_catalogs() -> None:
    from typing import get_args

    import agent.steps  # noqa: F401  (registers every step)
    from agent.engine.registry import REGISTRY
    from agent.engine.store import RunStatus, StepStatus
    from agent.i18n import status_label
    from agent.steps.titles import step_title

    for status in {*get_args(RunStatus), *get_args(StepStatus)}:
        assert f"status.{status}" in catalog("id") and f"status.{status}" in catalog("en"), status
    assert status_label("done", "id") == "selesai" and status_label("failed", "en") == "failed"
    titled = {k.removeprefix("step.") for k in catalog("id") if k.startswith("step.")}
    assert titled and titled <= set(REGISTRY.names()), titled - set(REGISTRY.names())  # no title for a gone step
    assert step_title("check_capacity", "cap", None, "id").startswith("Pemeriksaan kapasitas")
    assert step_title("check_capacity", "cap", "Cek ruang", "id") == "Cek ruang"  # the playbook's own wins
    assert step_title("no_such_step", "k", None, "en") == "k"


def test_the_keys_built_from_a_list_are_in_both_catalogs() -> None:
    from agent.steps.forms import _CHECKLIST
    from agent.steps.handover import PARTS

    keys = [f"forms.checklist_{item}" for item in _CHECKLIST] + [f"handover.part_{kind}" for kind in PARTS]
    keys += [f"sync.{action}" for action in ("create", "update", "delete", "disable")]  # agent.zabbix.apply
    assert [k for k in keys if k not in catalog("id") or k not in catalog("en")] == []
