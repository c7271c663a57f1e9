"""The lab's data plane (lab/lib/dataplane.sh, lab/dataplane.py): a server answers only through its port, its VLAN
and the routing switch's SVI, and no packet for the lab's range ever leaves the machine."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import dataplane
from tests.integration.helpers import set_port_admin, switch_vsctl

GATEWAY = "198.18.30.1"  # VLAN 130's SVI on tor-btm-01 (lab/lib/dataplane.sh LAB_GATEWAYS)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)


def test_the_lab_range_is_refused_locally_when_its_namespace_is_gone() -> None:
    """The safety route: with a namespace (and so its veth and route) deleted, a packet for the lab range gets
    "No route to host" from this machine's own table, never a route out through another interface."""
    assert "unreachable 198.18.0.0/15" in _ip("route", "show", "198.18.0.0/15").stdout
    ns, link = f"dcsrv-safety-{uuid.uuid4().hex[:4]}", f"dps{uuid.uuid4().hex[:6]}"
    target = "198.19.254.9"  # in the range, routed by nothing in the lab
    assert _ip("netns", "add", ns).returncode == 0
    try:
        assert _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns).returncode == 0
        _ip("addr", "add", "198.19.254.8/31", "dev", link)
        _ip("link", "set", link, "up")
        _ip("-n", ns, "addr", "add", f"{target}/31", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        assert dataplane.ping(target).returncode == 0  # reachable while the namespace is there
    finally:
        _ip("netns", "del", ns)  # its veth goes with it (the kernel's netns cleanup runs later), and the route
    for _ in range(100):
        if _ip("link", "show", link).returncode != 0:
            break
        time.sleep(0.1)
    route = _ip("route", "get", target)
    assert route.returncode != 0 and "No route to host" in route.stderr, route
    refused = dataplane.ping(target)
    assert refused.returncode == 2 and "No route to host" in refused.stderr, refused


@pytest.fixture
def server() -> Iterator[tuple[str, str]]:
    """A server namespace and a free port of tor-btm-01 (no cable in NetBox ends on swp47: the seed's servers
    use low ports, and colocations take the lowest free one), put back as found."""
    name, switch, port = f"srv-dp-{uuid.uuid4().hex[:6]}", "tor-btm-01", "swp47"
    before = switch_vsctl(switch, "get", "port", port, "tag")
    admin = switch_vsctl(switch, "get", "interface", port, "admin_state")
    yield name, port
    dataplane.remove(name)
    switch_vsctl(switch, "set", "port", port, f"tag={before}" if before != "[]" else "tag=[]")
    set_port_admin(switch, port, admin)


@pytest.mark.xdist_group("swp47")
def test_a_server_answers_through_its_port_vlan_and_gateway_only(lab_dir: Path, server: tuple[str, str]) -> None:
    name, port = server
    switch_vsctl("tor-btm-01", "set", "port", port, "tag=130", "vlan_mode=access")
    set_port_admin("tor-btm-01", port, "up")
    mac = dataplane.plug(name, "tor-btm-01", port)
    # The switch sees the cable: the port's link is up (a veth whose other end is the server's eth0).
    assert switch_vsctl("tor-btm-01", "get", "interface", port, "link_state") == "up"
    dataplane.configure(name, "198.18.30.250/24", GATEWAY)
    assert dataplane.ping("198.18.30.250", count=2).returncode == 0
    # The switch learned the server's MAC on that port, in VLAN 130 (what a verification finding reads).
    fdb = subprocess.run(["ovs-appctl", "-t", _ctl(lab_dir), "fdb/show", "br0"], capture_output=True, text=True,
                         timeout=20, check=True).stdout  # fmt: skip
    assert any(line.split()[1:3] == ["130", mac] for line in fdb.splitlines()[1:]), fdb
    # The port moved to another VLAN: the server no longer reaches its gateway, and nothing answers for it.
    switch_vsctl("tor-btm-01", "set", "port", port, "tag=110")
    assert dataplane.ping("198.18.30.250", count=2).returncode == 1
    # Shut: the link goes down and nothing passes, whatever the VLAN.
    switch_vsctl("tor-btm-01", "set", "port", port, "tag=130")
    set_port_admin("tor-btm-01", port, "down")
    assert dataplane.ping("198.18.30.250", count=2).returncode == 1
    set_port_admin("tor-btm-01", port, "up")
    # Unplugged: gone too, and the port keeps its configuration; plugged back: answers again.
    dataplane.unplug(name)
    assert switch_vsctl("tor-btm-01", "get", "port", port, "tag") == "130"
    assert dataplane.ping("198.18.30.250").returncode == 1
    dataplane.plug(name, "tor-btm-01", port)
    dataplane.configure(name, "198.18.30.250/24", GATEWAY)
    assert dataplane.ping("198.18.30.250", count=3).returncode == 0


def test_the_lab_refuses_to_put_an_address_outside_its_range_on_a_server(server: tuple[str, str]) -> None:
    name, _ = server
    with pytest.raises(ValueError, match="outside the lab range"):
        dataplane.configure(name, "10.1.2.3/24", "10.1.2.1")
    with pytest.raises(ValueError, match="outside the lab range"):
        dataplane.ping("8.8.8.8")


def _ctl(lab_dir: Path) -> str:
    pid = (lab_dir / "switches" / "tor-btm-01" / "ovs-vswitchd.pid").read_text().strip()
    return str(lab_dir / "switches" / "tor-btm-01" / f"ovs-vswitchd.{pid}.ctl")
