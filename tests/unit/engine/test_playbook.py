from __future__ import annotations

from pathlib import Path

import pytest

from agent.engine.calendar import Standard
from agent.engine.errors import PlaybookError
from agent.engine.playbook import load_playbook, load_playbooks
from tests.unit.engine.world import World, make_registry

GOOD = """\
name: selftest
title: Uji mandiri
sop: {number: "01/SOP/TEST", office: "Lab"}
trigger: {object_type: dcim.device, tag: sop-selftest, status: planned}
steps:
  - step: reserve
    sla: 1d
  - step: note
    id: note-1
    sla: 3h
on_reject:
  - step: letter
    sla: 1d
"""


def test_good_playbook_loads(tmp_path: Path) -> None:
    f = tmp_path / "selftest.yaml"
    f.write_text(GOOD)
    pb = load_playbook(f, make_registry(World()))
    assert [s.key for s in pb.steps] == ["reserve", "note-1"]
    assert pb.steps[0].sla == Standard(1, "d") and pb.on_reject[0].step == "letter"


def test_unknown_step_is_reported_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace("  - step: note\n", "  - step: nope\n"))
    with pytest.raises(PlaybookError) as e:
        load_playbook(f, make_registry(World()))
    assert str(e.value).startswith(f"{f}:8: steps.1.step: unknown step 'nope'")


def test_every_error_has_file_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace("sla: 3h", "sla: soon").replace("status: planned}", "status: planned, colour: red}"))
    with pytest.raises(PlaybookError) as e:
        load_playbook(f, make_registry(World()))
    lines = str(e.value).splitlines()
    assert f"{f}:4: trigger.colour: Extra inputs are not permitted" in lines
    assert any(line.startswith(f"{f}:10: steps.1.sla: standard 'soon'") for line in lines)


def test_duplicate_ids_and_bad_yaml(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text(GOOD.replace("    id: note-1\n", "    id: reserve\n"))
    with pytest.raises(PlaybookError, match="repeated: reserve"):
        load_playbook(f, make_registry(World()))
    g = tmp_path / "broken.yaml"
    g.write_text("name: [unclosed\n")
    with pytest.raises(PlaybookError, match=r"broken.yaml:2: not valid YAML"):
        load_playbook(g, make_registry(World()))


def test_directory_reports_all_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("step: note", "step: x1"))
    (tmp_path / "b.yaml").write_text(GOOD.replace("step: note", "step: x2"))
    with pytest.raises(PlaybookError) as e:
        load_playbooks(tmp_path, make_registry(World()))
    assert "'x1'" in str(e.value) and "'x2'" in str(e.value)


def test_a_playbook_may_give_a_step_its_own_deadline(tmp_path: Path) -> None:
    f = tmp_path / "selftest.yaml"
    f.write_text(GOOD.replace("  - step: note\n", "  - step: note\n    timeout: 90s\n", 1))
    assert load_playbook(f, make_registry(World())).steps[1].timeout == 90
    f.write_text(GOOD.replace("  - step: note\n", "  - step: note\n    timeout: 1 jam\n", 1))
    with pytest.raises(PlaybookError, match="must be a positive clock time"):
        load_playbook(f, make_registry(World()))
