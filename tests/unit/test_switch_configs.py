"""Switch configuration files: a NetBox name never escapes the repository; secrets never reach git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.jobs.switch_configs import _store, config_file, ensure_repo
from integrations.netbox import SwitchRef


def switch(name: str, platform: str = "cisco_ios") -> SwitchRef:
    return SwitchRef(id=7, name=name, site="dc-batam", platform=platform, host="127.0.1.1", ssh_port=22)


@pytest.mark.parametrize(
    ("name", "file"),
    [("tor-btm-01", "tor-btm-01.cfg"), ("../../etc/cron.d/x", "_.._etc_cron.d_x.cfg"), ("..", "device-7.cfg"),
     ("a/b", "a_b.cfg"), ("sw 1;rm", "sw_1_rm.cfg"), (".hidden", "hidden.cfg")],
)  # fmt: skip
def test_file_names_stay_inside_the_repository(name: str, file: str, tmp_path: Path) -> None:
    assert config_file(switch(name)) == file
    assert (tmp_path / file).resolve().parent == tmp_path.resolve()


def test_a_stored_config_and_its_diff_hold_no_secret(tmp_path: Path) -> None:
    ensure_repo(tmp_path)
    changed, _, _ = _store(tmp_path, switch("tor-1"), "hostname tor-1\nsnmp-server community Old0ne RO\n")
    assert changed
    changed, summary, commit = _store(tmp_path, switch("tor-1"), "hostname tor-1\nsnmp-server community N3w RW\n")
    assert changed and commit and "<secret removed> RW" in summary
    history = subprocess.run(["git", "-C", str(tmp_path), "log", "-p"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    for secret in ("Old0ne", "N3w"):
        assert secret not in history and secret not in summary
    again = _store(tmp_path, switch("tor-1"), "hostname tor-1\nsnmp-server community N3w RW\n")
    assert again == (False, "", None)
