from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.config import clients
from agent.config.settings import Settings
from integrations.errors import HostKeyError, PermanentError
from integrations.ssh import SSHCredentials
from integrations.switches.base import PortState
from integrations.switches.ovs_linux import OvsLinuxDriver

# The lab answers: part of `make test-fast`. One worker for the module: its tests share tor-btm-01's spare ports.
pytestmark = [pytest.mark.smoke, pytest.mark.xdist_group("tor-btm-01-spare-ports")]

PORT = "swp47"


def ovsdb_port(lab_dir: Path, switch: str, port: str) -> dict[str, object]:
    """Read the port straight from the switch's OVSDB, independently of the driver under test."""
    raw = subprocess.run(
        ["ovs-vsctl", f"--db=unix:{lab_dir}/switches/{switch}/db.sock", "--format=json",
         "--columns=tag,external_ids", "list", "port", port],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    data = json.loads(raw)
    return dict(zip(data["headings"], data["data"][0], strict=True))


@pytest.fixture
def driver(settings: Settings, lab_switches: list[tuple[str, str, int]]) -> OvsLinuxDriver:
    assert settings.switch_ssh is not None
    name, host, port = lab_switches[0]
    d = OvsLinuxDriver.open(host, port, clients.ssh_credentials(settings.switch_ssh), name=name)
    yield d  # type: ignore[misc]
    d.reset_port(PORT)
    d.close()


def test_access_vlan_is_set_and_read_back(
    driver: OvsLinuxDriver, lab_dir: Path, lab_switches: list[tuple[str, str, int]]
) -> None:
    state = driver.configure_access_port(PORT, 130, "srv-disdik-09 (Dinas Pendidikan)")
    assert state.mode == "access" and state.access_vlan == 130 and state.enabled
    assert state.description == "srv-disdik-09 (Dinas Pendidikan)"
    row = ovsdb_port(lab_dir, lab_switches[0][0], PORT)
    assert row["tag"] == 130
    state = driver.configure_access_port(PORT, 131, "x", enabled=False)
    assert (state.access_vlan, state.enabled) == (131, False)
    reset = driver.reset_port(PORT)
    assert reset.access_vlan is None and reset.enabled and reset.description == ""


def test_a_description_cannot_inject_a_command(driver: OvsLinuxDriver, lab_dir: Path) -> None:
    evil = 'web\n; ovs-vsctl del-br br0\r\x1b[2J $(touch /tmp/pwned) "quoted"'
    state = driver.configure_access_port(PORT, 132, evil)
    assert "\n" not in state.description and "$(" not in state.description
    assert (
        subprocess.run(
            ["ovs-vsctl", f"--db=unix:{lab_dir}/switches/tor-btm-01/db.sock", "br-exists", "br0"], check=False
        ).returncode
        == 0
    )
    assert not Path("/tmp/pwned").exists()


def test_out_of_range_vlan_changes_nothing(driver: OvsLinuxDriver) -> None:
    before = driver.get_port(PORT)
    with pytest.raises(PermanentError, match="out of range"):
        driver.configure_access_port(PORT, 4095, "x")
    assert driver.get_port(PORT) == before


def test_unknown_host_key_is_refused(
    settings: Settings, tmp_path: Path, lab_switches: list[tuple[str, str, int]]
) -> None:
    assert settings.switch_ssh is not None
    other = tmp_path / "known_hosts"
    # A known_hosts that lists only the *other* switches: this switch's key is unknown.
    lines = Path(settings.switch_ssh.known_hosts).read_text().splitlines()
    name, host, port = lab_switches[0]
    other.write_text("\n".join(line for line in lines if not line.startswith(f"[{host}]:{port} ")) + "\n")
    creds = SSHCredentials(username="netops", known_hosts=other, key_file=settings.switch_ssh.key_file, timeout=5)
    with pytest.raises(HostKeyError):
        OvsLinuxDriver.open(host, port, creds, name=name)


TRUNK, ACCESS = "swp45", "swp44"  # ports of this test's own (the others use swp47)


def vsctl(lab_dir: Path, switch: str, *args: str) -> str:
    db = f"--db=unix:{lab_dir}/switches/{switch}/db.sock"
    return subprocess.run(["ovs-vsctl", db, *args], check=True, capture_output=True, text=True, timeout=30).stdout


def test_a_connections_vlan_trunk_and_rate_limit_are_read_back_from_ovsdb(
    driver: OvsLinuxDriver, lab_dir: Path, lab_switches: list[tuple[str, str, int]]
) -> None:
    switch = lab_switches[0][0]
    vsctl(lab_dir, switch, "set", "port", TRUNK, "vlan_mode=trunk", "trunks=[100]")
    try:
        assert driver.ensure_vlan(3901, "OPD Disdik internet").name == "OPD-Disdik-internet"
        assert vsctl(lab_dir, switch, "br-get-external-id", "br0", "dcagent-vlan-3901").strip() == "OPD-Disdik-internet"
        driver.configure_access_port(ACCESS, 3901, "link disdik")
        assert driver.allow_on_trunk(TRUNK, 3901).trunk_vlans == (100, 3901)
        trunks = json.loads(vsctl(lab_dir, switch, "--format=json", "--columns=trunks", "list", "port", TRUNK))
        assert trunks["data"][0][0] == ["set", [100, 3901]]
        assert driver.set_rate_limit(ACCESS, 20_000) == 20_000
        assert vsctl(lab_dir, switch, "get", "interface", ACCESS, "ingress_policing_rate").strip() == "20000"
        vlan = driver.get_vlan(3901)
        assert vlan is not None and set(vlan.ports) == {ACCESS, TRUNK}
        assert driver.remove_vlan(3901) is False  # still carried: the undo of a second request leaves it
        driver.disallow_on_trunk(TRUNK, 3901)
        driver.reset_port(ACCESS)
        assert driver.set_rate_limit(ACCESS, None) is None
        assert driver.remove_vlan(3901) is True
        assert vsctl(lab_dir, switch, "br-get-external-id", "br0", "dcagent-vlan-3901").strip() == ""
    finally:
        vsctl(lab_dir, switch, "clear", "port", TRUNK, "trunks", "vlan_mode")
        vsctl(lab_dir, switch, "clear", "port", ACCESS, "tag", "trunks", "vlan_mode")
        vsctl(lab_dir, switch, "set", "interface", ACCESS, "ingress_policing_rate=0", "ingress_policing_burst=0")
        vsctl(lab_dir, switch, "br-set-external-id", "br0", "dcagent-vlan-3901")


@pytest.mark.parametrize("before", ["shut", "trunk"])
def test_a_port_is_restored_as_it_was_before_a_run(driver: OvsLinuxDriver, before: str) -> None:
    """Issue 30 #4: undo puts the port back as recorded, its admin state last: a port that was down stays down (the
    old undo reset it to defaults, which brings a port up); a trunk gets its allowed list back."""
    if before == "shut":
        was = driver.configure_access_port(PORT, 133, "spare (shut)", enabled=False)
    else:
        driver.reset_port(PORT)
        was = driver.restore_port(PortState(name=PORT, enabled=True, mode="trunk", access_vlan=None,
                                            trunk_vlans=(130, 131, 140), description="uplink spare"))  # fmt: skip
    driver.configure_access_port(PORT, 134, "srv-run (Dinkes)")  # what a colocation's step does
    back = driver.restore_port(was)
    assert back == was == driver.get_port(PORT), (was, back)
    assert back.enabled is (before != "shut")
