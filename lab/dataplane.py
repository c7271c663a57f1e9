"""The two physical acts the lab plays on its data plane (lib/dataplane.sh builds the rest):

- the technician mounts a server and plugs it into a switch port (the right one or, for tests, a wrong one): the
  switch's port ``swpN`` becomes one end of a veth whose other end is the server's ``eth0``, in the server's own
  namespace, so the server's frames go through that port, its VLAN and the switch, and the switch sees the link.
  (Moving the OVS internal port itself into the server's namespace forwards too, but then ovs-vswitchd can no
  longer read or set the port's flags: every port the driver enables reads back "down".)
- the agency configures the server with what the letter told it: address, mask and gateway.

Every address must be inside the lab's range (198.18.0.0/15): nothing here may put another address on the machine.
Needs root, as lab/up does."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import subprocess

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
_PORT = re.compile(r"^swp[0-9]{1,3}$")
_SWITCH = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_ALIAS_PREFIX = "lab-cable:"


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


def _switch_dir(switch: str) -> str:
    _switch_ns(switch)
    return f"{os.environ.get('LAB_DIR', '/var/lib/dcagent-lab')}/switches/{switch}"


def _ovs(switch: str, tool: str, *args: str) -> str:
    """ovs-vsctl / ovs-ofctl on the switch's own database and bridge."""
    directory = _switch_dir(switch)
    argv = ["ovs-vsctl", f"--db=unix:{directory}/db.sock", *args] if tool == "vsctl" else ["ovs-ofctl", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False,
                          env={**os.environ, "OVS_RUNDIR": directory})  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}: {done.stderr.strip()}")
    return done.stdout.strip()


def _port_config(switch: str, port: str) -> tuple[list[str], list[str], bool]:
    """What the switch holds for the port (VLAN, mode, description, policing, admin state): carried over when its
    cable changes, as a patch cable changes nothing in the switch's configuration."""
    row = json.loads(_ovs(switch, "vsctl", "--format=json", "--columns=tag,trunks,vlan_mode,external_ids", "list",
                          "port", port))  # fmt: skip
    values = dict(zip(row["headings"], row["data"][0], strict=True))
    port_cols = [f"{k}={_ovsdb_text(v)}" for k, v in values.items()]
    rate = _ovs(switch, "vsctl", "get", "interface", port, "ingress_policing_rate")
    burst = _ovs(switch, "vsctl", "get", "interface", port, "ingress_policing_burst")
    up = _ovs(switch, "vsctl", "get", "interface", port, "admin_state") == "up"
    return port_cols, [f"ingress_policing_rate={rate}", f"ingress_policing_burst={burst}"], up


def _ovsdb_text(value: object) -> str:
    """An OVSDB JSON value (``["set", []]``, ``["map", [[k, v]]]``, a scalar) as ovs-vsctl's ``set`` takes it."""
    if isinstance(value, list) and value[0] == "set":
        return "[" + ",".join(str(v) for v in value[1]) + "]"
    if isinstance(value, list) and value[0] == "map":
        return "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in value[1]) + "}"
    return str(value)


def _replace_port(switch: str, port: str, kind: str, peer_ns: str | None) -> None:
    """The switch port re-made as ``kind`` (``internal``: no cable; ``system``: a veth whose other end, ``eth0``,
    is in ``peer_ns``), its configuration kept."""
    port_cols, iface_cols, up = _port_config(switch, port)
    _ovs(switch, "vsctl", "del-port", "br0", port)
    try:
        _make_port(switch, port, kind, peer_ns, port_cols, iface_cols, up)
    except Exception:
        # Never leave the switch without its port: back as an empty one, its configuration kept.
        _ovs(switch, "vsctl", "--if-exists", "del-port", "br0", port)
        _make_port(switch, port, "internal", None, port_cols, iface_cols, up)
        raise


def _make_port(switch: str, port: str, kind: str, peer_ns: str | None, port_cols: list[str], iface_cols: list[str],
               up: bool) -> None:  # fmt: skip
    sw_ns = _switch_ns(switch)
    if _ip("-n", sw_ns, "link", "show", port, check=False):
        _ip("-n", sw_ns, "link", "del", port)
    if kind == "system":
        assert peer_ns is not None
        _ip("-n", sw_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
        _ip("-n", peer_ns, "link", "set", "eth0", "alias", f"{_ALIAS_PREFIX}{switch}:{port}")
        _ip("-n", peer_ns, "link", "set", "eth0", "up")
        _ip("-n", sw_ns, "link", "set", port, "up")
    args = ["add-port", "br0", port, "--", "set", "port", port, *port_cols, "--", "set", "interface", port,
            *iface_cols]  # fmt: skip
    if kind == "internal":
        args.append("type=internal")
    _ovs(switch, "vsctl", *args)
    _ovs(switch, "ofctl", "mod-port", "br0", port, "up" if up else "down")


def plugged_ports(server: str) -> list[tuple[str, str]]:
    """(switch, port) the server's cable is plugged into: none or one."""
    ns = namespace(server)
    if not _exists(ns):
        return []
    line = _ip("-n", ns, "-o", "link", "show", "eth0", check=False)
    alias = re.search(r"alias (\S+)", line)
    if not alias or not alias.group(1).startswith(_ALIAS_PREFIX):
        return []
    switch, _, port = alias.group(1)[len(_ALIAS_PREFIX) :].partition(":")
    return [(switch, port)]


def plug(server: str, switch: str, port: str) -> str:
    """Mount ``server`` and plug its cable into ``port`` of ``switch`` (a veth: the server's ``eth0`` at one end, the
    switch's port at the other); returns the server's MAC. A server plugged elsewhere is unplugged first."""
    if not _PORT.match(port):
        raise ValueError(f"not a lab access port: {port!r}")
    ns = namespace(server)
    unplug(server)
    if not _exists(ns):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    _replace_port(switch, port, "system", ns)
    return mac(server)


def unplug(server: str) -> None:
    """Pull the server's cable: its switch port goes back to an empty (internal) port, its configuration kept."""
    for switch, port in plugged_ports(server):
        _replace_port(switch, port, "internal", None)


def mac(server: str) -> str:
    if not plugged_ports(server):
        raise RuntimeError(f"server {server} is not plugged in")
    found = re.search(r"link/ether ([0-9a-f:]{17})", _ip("-n", namespace(server), "-o", "link", "show", "eth0"))
    if not found:
        raise RuntimeError(f"no MAC on eth0 of {server}")
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
    ns, dev = namespace(server), "eth0"
    _ip("-n", ns, "addr", "flush", "dev", dev)
    _ip("-n", ns, "addr", "add", str(iface), "dev", dev)
    _ip("-n", ns, "route", "replace", "default", "via", str(gw), "dev", dev)
    # A server coming up talks to its gateway first: the router learns (or relearns) its MAC from the ARP request,
    # as it would from a booting server, instead of keeping a stale entry from a cable moved a moment ago.
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "1", str(gw)], capture_output=True,
                   timeout=10, check=False)  # fmt: skip


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
