"""The two physical acts the lab plays on its data plane (lib/dataplane.sh builds the rest):

- the technician mounts a server and plugs it into a switch port (the right one or, for tests, a wrong one):
  the switch's OVS internal port ``swpN`` moves from the switch's namespace into the server's own namespace,
  and keeps forwarding, so the server's frames go through that port, its VLAN and the switch;
- the agency configures the server with what the letter told it: address, mask and gateway.

Every address must be inside the lab's range (198.18.0.0/15): nothing here may put another address on the machine.
Needs root, as lab/up does."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
_PORT = re.compile(r"^swp[0-9]{1,3}$")
_SWITCH = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_ALIAS_PREFIX = "lab-switch:"


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def namespace(server: str) -> str:
    """The server's network namespace: a short, fixed name whatever the server is called."""
    return "dcsrv-" + hashlib.sha256(server.encode()).hexdigest()[:10]


def _switch_ns(switch: str) -> str:
    if not _SWITCH.match(switch):
        raise ValueError(f"not a lab switch name: {switch!r}")
    return f"dcsw-{switch}"


def _exists(ns: str) -> bool:
    return ns in _ip("netns", "list").split()


def plugged_ports(server: str) -> list[tuple[str, str]]:
    """(switch, port) of each switch port plugged into the server."""
    ns = namespace(server)
    if not _exists(ns):
        return []
    found = []
    for line in _ip("-n", ns, "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        alias = re.search(r"alias (\S+)", line)
        if _PORT.match(name) and alias and alias.group(1).startswith(_ALIAS_PREFIX):
            found.append((alias.group(1)[len(_ALIAS_PREFIX) :], name))
    return found


def plug(server: str, switch: str, port: str) -> str:
    """Mount ``server`` and plug it into ``port`` of ``switch``; returns the server's MAC on that port. A server
    plugged elsewhere is unplugged first (one cable, moved)."""
    if not _PORT.match(port):
        raise ValueError(f"not a lab access port: {port!r}")
    sw_ns, ns = _switch_ns(switch), namespace(server)
    unplug(server)
    if not _exists(ns):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    # The alias remembers whose port it is, so unplugging puts it back into the right switch.
    _ip("-n", sw_ns, "link", "set", port, "alias", _ALIAS_PREFIX + switch)
    _ip("-n", sw_ns, "link", "set", port, "netns", ns)
    _ip("-n", ns, "link", "set", port, "up")
    return mac(server)


def unplug(server: str) -> None:
    """Pull the server's cable(s): each port goes back into its switch, with no address."""
    ns = namespace(server)
    for switch, port in plugged_ports(server):
        _ip("-n", ns, "addr", "flush", "dev", port)
        _ip("-n", ns, "link", "set", port, "netns", _switch_ns(switch))


def mac(server: str) -> str:
    ports = plugged_ports(server)
    if not ports:
        raise RuntimeError(f"server {server} is not plugged in")
    line = _ip("-n", namespace(server), "-o", "link", "show", ports[0][1])
    found = re.search(r"link/ether ([0-9a-f:]{17})", line)
    if not found:
        raise RuntimeError(f"no MAC on {ports[0][1]} of {server}")
    return found.group(1)


def configure(server: str, address: str, gateway: str) -> None:
    """The agency sets the address (CIDR, as the letter gives it) and the default gateway on the server."""
    iface = ipaddress.ip_interface(address)
    gw = ipaddress.ip_address(gateway)
    for what in (iface.ip, gw):
        if what not in LAB_RANGE:
            raise ValueError(f"{what} is outside the lab range {LAB_RANGE}: refused")
    ports = plugged_ports(server)
    if not ports:
        raise RuntimeError(f"server {server} is not plugged in: plug it first")
    ns, dev = namespace(server), ports[0][1]
    _ip("-n", ns, "addr", "flush", "dev", dev)
    _ip("-n", ns, "addr", "add", str(iface), "dev", dev)
    _ip("-n", ns, "route", "replace", "default", "via", str(gw), "dev", dev)


def remove(server: str) -> None:
    """The server leaves the data centre: unplugged and its namespace gone."""
    unplug(server)
    ns = namespace(server)
    if _exists(ns):
        _ip("netns", "del", ns)


def ping(address: str, count: int = 1, wait_s: int = 2) -> subprocess.CompletedProcess[str]:
    """A ping from the root namespace (where Zabbix's pinger runs), for lab checks."""
    if ipaddress.ip_address(address) not in LAB_RANGE:
        raise ValueError(f"{address} is outside the lab range {LAB_RANGE}")
    return subprocess.run(["ping", "-n", "-c", str(count), "-W", str(wait_s), address],
                          capture_output=True, text=True, timeout=count * wait_s + 10, check=False)  # fmt: skip
