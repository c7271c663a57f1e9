"""``dcagent steps`` (issue 32): a step is found from its playbook name in one hop — its module and line, its params
model with each field's default, what it needs, its undo, timeout and retry. The CLI in-process; it reads the
registry alone (no settings, no lab)."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.cli.steps import describe, seconds
from agent.engine.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def _json(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["steps", "--json", *args])
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.output)
    return data


def test_every_step_is_listed_with_the_file_and_line_where_it_is_registered() -> None:
    steps = _json()
    assert [s["name"] for s in steps] == REGISTRY.names() and len(steps) >= 75
    for s in steps:
        lines = (ROOT / s["file"]).read_text(encoding="utf-8").splitlines()
        assert lines[s["line"] - 1].startswith("@step("), (s["name"], s["file"], s["line"])
        assert f'"{s["name"]}"' in "\n".join(lines[s["line"] - 1 : s["line"] + 1]), s["name"]  # its own decorator
        assert importlib.import_module(s["module"]).__file__ == str(ROOT / s["file"])


def test_a_step_is_found_in_the_module_its_playbook_concern_names() -> None:
    where = {s["name"]: s["module"] for s in _json()}
    assert where["assign_ip"] == where["reserve_ip"] == where["allocate_prefix"] == "agent.steps.ipam"
    assert where["cable_switch_port"] == where["configure_switch_port"] == "agent.steps.switchport"
    assert where["reserve_gateway"] == where["configure_gateway"] == "agent.steps.gateway"
    assert where["reserve_bandwidth"] == where["set_port_rate"] == "agent.steps.bandwidth"
    assert where["stop_backup"] == where["backup_stop_letter"] == "agent.steps.backup_stop"
    assert where["restore_report"] == "agent.steps.restore" and where["confirm_plan"] == "agent.steps.capacity"
    assert where["hand_off_withdrawal"] == "agent.steps.withdrawal" and where["verify_server"] == "agent.steps.verify"
    # Every step a shipped playbook names is listed (and so registered where the listing says).
    named = {ref["step"] for f in (ROOT / "playbooks").glob("*.yaml")
             for stage in ("steps", "on_reject") for ref in yaml.safe_load(f.read_text()).get(stage) or []}  # fmt: skip
    assert named <= set(where), named - set(where)


def test_the_params_model_its_defaults_needs_undo_timeout_and_retry() -> None:
    [place] = _json("place_device")
    assert place["params"]["model"] == "CapacityFrom"
    assert place["params"]["fields"] == [{"name": "capacity_from", "type": "str", "required": False,
                                          "default": "check_capacity",
                                          "description": "the step whose placement is used"}]  # fmt: skip
    assert place["needs"] == {
        "steps": ["check_capacity"],
        "from_params": True,
        "by": {"check_capacity": "capacity_from"},
    }
    assert place["undo"] == "unplace_device" and place["plan"] is True
    assert (place["timeout"], place["retry"]["max_attempts"]) == (300, 4)
    [check] = _json("check_connection")
    fields = {f["name"]: f for f in check["params"]["fields"]}
    assert fields["switch"]["required"] and "default" not in fields["switch"]
    assert fields["max_hosts"]["default"] == 1022 and fields["reserved_vlans"] == {
        "name": "reserved_vlans", "type": "list[int]", "required": False, "default": [],
        "description": fields["reserved_vlans"]["description"]}  # fmt: skip
    [verify] = _json("verify_monitoring")
    on_failure = next(f for f in verify["params"]["fields"] if f["name"] == "on_failure")
    assert on_failure["type"] == "'fail' | 'wait_for_retry'" and on_failure["default"] == "wait_for_retry"
    assert verify["retry"]["max_attempts"] == 1 and verify["undo"] is None


def test_the_listing_agrees_with_the_registry_for_every_step() -> None:
    for s in _json():
        spec = REGISTRY.get(s["name"])
        assert s == describe(spec)
        assert s["params"]["model"] == spec.params.__name__ and s["timeout"] == spec.timeout
        assert (s["undo"] is None) == (spec.undo is None) and s["plan"] == (spec.plan is not None)
        assert inspect.getsourcelines(spec.fn)[1] == s["line"]


def test_piped_it_is_a_block_a_step_and_an_unknown_name_is_refused() -> None:
    result = CliRunner().invoke(app, ["steps", "assign_ip", "publish_dns"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("assign_ip  agent/steps/ipam.py:")
    assert (
        "    params   NoParams" in lines and "    needs    reserve_ip" in lines and "    undo     unassign_ip" in lines
    )
    assert "    timeout  2 min; 4 attempts, backoff 1 s ×2 up to 30 s" in lines
    start = next(i for i, line in enumerate(lines) if line.startswith("publish_dns  agent/steps/dns.py:"))
    assert "               address_from: str = 'reserve_ip'" in lines[start:]
    assert "    needs    reserve_ip (params.address_from)" in lines[start:]
    refused = CliRunner().invoke(app, ["steps", "assign_ip", "no_such_step"])
    assert refused.exit_code == 2 and "no step named no_such_step" in refused.output


def test_seconds_read_as_people_write_them() -> None:
    assert [seconds(v) for v in (60, 120, 300, 6 * 3600, 21900, 0.3)] == ["60 s", "2 min", "5 min", "6 h", "365 min",
                                                                          "0.3 s"]  # fmt: skip
