"""No English in Indonesian output (issue 30 #9: "no rack can take the device any more" in a reply letter): the
Indonesian catalog translates every message, its templates and mails hold no English words, and no step hands
people a reason written in the code instead of a catalog message."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from agent.i18n import catalog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "agent" / "reports" / "templates"

# Messages the same in both languages because they are names, codes or units, not English.
SAME_IN_BOTH = {"doctor.status", "doctor.ok", "doc.sop", "doc.switch", "doc.status", "doc.nip", "handover.part_cpu",
                "handover.part_memory", "handover.part_motherboard", "verify.label.status"}  # fmt: skip
# Common English words that are not Indonesian words nor technical names used as they are in Indonesian.
WORDS = (
    "the is are was were be been being no not any more can cannot could would should will has have had does did of "
    "for with without from by on at and or this that these those there it its into than left already empty none "
    "take taken device window ends starts long only which when where while what who after before free nothing "
    "missing found unknown allowed allows needed need needs each every between over under out"
)
ENGLISH = frozenset(WORDS.split())
# Code and names that read like words: left alone.
CODE = re.compile(r"\{[^}]*\}|`[^`]*`|\bdcagent_[a-z_]+|https?://\S+")


def english_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]+", CODE.sub(" ", text)) if w.lower() in ENGLISH}


def test_the_indonesian_catalog_translates_every_message() -> None:
    ids, en = catalog("id"), catalog("en")
    assert set(ids) == set(en)
    assert sorted(k for k in ids if ids[k] == en[k] and k not in SAME_IN_BOTH) == []


def test_no_english_words_in_indonesian_messages() -> None:
    found = {k: sorted(english_words(v)) for k, v in catalog("id").items()}
    assert {k: w for k, w in found.items() if w} == {}


def _template_text(path: Path) -> str:
    text = re.sub(r"<style>.*?</style>", " ", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)  # what the catalogs fill in
    return re.sub(r"<[^>]+>", " ", text)  # markup, not words


def test_no_english_words_in_the_indonesian_templates_and_mails() -> None:
    paths = [*TEMPLATES.glob("*.html.j2"), *(TEMPLATES / "mail").glob("*.id.txt.j2")]
    assert len(paths) >= 8
    found = {p.name: sorted(english_words(_template_text(p))) for p in paths}
    assert {n: w for n, w in found.items() if w} == {}


# --- reasons written in the code ---------------------------------------------------------------------------------

KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")  # a catalog key, as t() is given
REASON_LISTS = {"problems", "reasons", "shortfalls", "wrong"}
NOT_FOR_PEOPLE = {"capacity_model.py"}  # its shortfalls decide ``fits``; capacity.py words the reasons


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _reason_args(node: ast.Call) -> list[ast.expr]:
    """The arguments of ``StepResult.rejected(...)`` and of ``<reason list>.append(...)``: text for people."""
    f = node.func
    if not isinstance(f, ast.Attribute) or not isinstance(f.value, ast.Name):
        return []
    if (f.value.id, f.attr) == ("StepResult", "rejected") or (f.value.id in REASON_LISTS and f.attr == "append"):
        return [a.value if isinstance(a, ast.Starred) else a for a in node.args]
    return []


def english_reasons() -> list[str]:
    found = []
    for path in sorted((ROOT / "agent" / "steps").glob("*.py")):
        if path.name in NOT_FOR_PEOPLE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for arg in _reason_args(node):
                for sub in ast.walk(arg):
                    text = _literal(sub)
                    if text is not None and not KEY.match(text) and english_words(text):
                        found.append(f"{path.name}:{node.lineno}: {text[:80]!r}")
                        break  # an f-string's parts are literals too: one finding per argument
    return found


def test_no_step_hands_people_a_reason_written_in_english() -> None:
    """A rejection's reasons go into the reply letter and the journal in the office's language: through t()."""
    assert english_reasons() == []


def test_the_scan_sees_english_where_there_is_some() -> None:
    assert english_words("no rack can take the device any more") == {"no", "can", "take", "the", "device", "any",
                                                                       "more"}  # fmt: skip
    assert english_words("tidak ada rak yang dapat menampung perangkat {device}") == set()
