"""Step contracts, checked when a playbook loads: params against the step's model, needed outputs provided by an
earlier step — with the file and line of the step at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

import agent.steps  # noqa: F401  (registers the shipped steps)
from agent.engine.errors import PlaybookError
from agent.engine.playbook import load_playbook

PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"


def broken(tmp_path: Path, source: str, old: str, new: str) -> tuple[Path, str]:
    text = (PLAYBOOKS / source).read_text(encoding="utf-8")
    assert old in text
    f = tmp_path / source
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    return f, f"{f}:{line}"


def test_a_step_whose_input_no_earlier_step_provides_fails_to_load(tmp_path: Path) -> None:
    # Batam's playbook without its address reservation: assigning and publishing an address need it.
    f, _at = broken(tmp_path, "colocation.yaml", "  - step: reserve_ip                # step 7: assign an IP from the "
                    "IP usage list\n    sla: 1 hari\n", "")  # fmt: skip
    with pytest.raises(PlaybookError) as e:
        load_playbook(f)
    problems = str(e.value).splitlines()
    assert any(p.startswith(f"{f}:") and "assign_ip needs the output of step 'reserve_ip', which no earlier step "
               "provides" in p for p in problems), problems  # fmt: skip
    assert any("publish_dns needs the output of step 'reserve_ip'" in p for p in problems)


def test_a_param_the_step_does_not_take_is_refused_with_its_line(tmp_path: Path) -> None:
    f, at = broken(tmp_path, "colocation.yaml", "      timeout: 240", "      timout: 240")
    with pytest.raises(PlaybookError) as e:
        load_playbook(f)
    assert f"{at}: steps." in str(e.value) and ".params.timout: Extra inputs are not permitted" in str(e.value)


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('asset_tag: "JTG/{year}/{id:05d}"', 'asset_tag: "JTG/{owner}"', "uses a field other than id, site, year"),
        ("on_change: continue", "on_change: maybe", "Input should be 'continue' or 'reject'"),
        (
            "  - step: check_capacity            # re-checked",
            "  - step: validate_request            # re-checked",
            "confirm_plan needs the output of step 'check_capacity'",
        ),
    ],
)
def test_central_java_contract_breaches_are_load_errors(tmp_path: Path, old: str, new: str, error: str) -> None:
    f, _at = broken(tmp_path, "colocation-jateng.yaml", old, new)
    with pytest.raises(PlaybookError) as e:
        load_playbook(f)
    assert error in str(e.value), str(e.value)


def test_the_shipped_playbooks_keep_their_contracts() -> None:
    for f in sorted(PLAYBOOKS.glob("*.yaml")):
        load_playbook(f)
