"""Colocation requests on the lab, as an engineer would file them, and their complete removal afterwards.
Shared by the integration tests and the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pynetbox

from agent.config import clients
from agent.config.settings import load_settings
from agent.engine.playbook import load_playbooks
from integrations.dns import in_zone, reverse_name
from integrations.http import TimeoutSession
from lab import dataplane


def netbox() -> Any:
    token = Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).read_text().strip()
    api = pynetbox.api(os.environ["DCAGENT_NETBOX__URL"], token=token)
    api.http_session = TimeoutSession(60, system="netbox-tests")  # same timeouts and idempotent retries as dcagent
    return api


# The lab's officials (lab/seed.py), one per NetBox group the offices' playbooks name in their decisions.
OFFICIAL_OF_GROUP = {"kepala-dinas": "kadis", "kepala-bidang": "kabid", "kepala-seksi": "kasi"}
REPO_PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


def official(username: str) -> Any:
    """A NetBox API client acting as the lab user ``username`` (its changes are in the changelog under its name)."""
    tokens = json.loads((Path(os.environ["DCAGENT_NETBOX__TOKEN_FILE"]).parent / "netbox-officials.json").read_text())
    api = pynetbox.api(os.environ["DCAGENT_NETBOX__URL"], token=tokens[username])
    api.http_session = TimeoutSession(60, system="netbox-tests")
    return api


def chain(site: str, request_tag: str = "sop-colocation") -> list[tuple[str, str]]:
    """(tag, lab user) of each decision the office's playbook for ``site`` declares, in order."""
    import agent.steps  # noqa: F401  (the steps the playbooks name)

    for pb in load_playbooks(REPO_PLAYBOOKS).values():
        if pb.trigger is not None and pb.trigger.tag == request_tag and pb.trigger.serves(site, None):
            return [(d.tag, OFFICIAL_OF_GROUP.get(d.group or "", "kabid")) for d in pb.trigger.chain]
    return [("approved", "kabid")]


# Requests filed ``delivered`` whose server is not recorded yet. The agency ships once its request is approved: the
# technician records the arrival right before an approval that can stand (an official's, not by whoever filed the
# request), so the run finds the server there and does not wait. An approval that will be refused (by someone in
# no group, or by the request's own filer) ships nothing: such a request keeps exactly the tags it had.
_AWAITED: set[int] = set()
_FILED_BY: dict[int, str] = {}
_SHIPPING = threading.Lock()
APPROVAL_TAG = "approved"  # every colocation playbook's approval_tag


def _ships(dev: Any, tag: str, username: str) -> bool:
    with _SHIPPING:
        if tag.startswith("sop-"):  # a request tag: whoever adds it files the request
            _FILED_BY[int(dev.id)] = username
            return False
        if tag != APPROVAL_TAG or username not in OFFICIAL_OF_GROUP.values() or _FILED_BY.get(int(dev.id)) == username:
            return False
        if int(dev.id) not in _AWAITED:
            return False
        _AWAITED.discard(int(dev.id))
        return True


def decide(dev: Any, tag: str, username: str) -> None:
    """``username`` adds ``tag`` to the device, as that official would in NetBox's UI (a request filed ``delivered``
    has its server's arrival recorded first, when this is an approval that can stand)."""
    if _ships(dev, tag, username):
        deliver(dev)
    mine = official(username).dcim.devices.get(dev.id)
    mine.update({"tags": [{"slug": t.slug} for t in mine.tags] + [{"slug": tag}]})


def deliver(
    dev: Any,
    *,
    serial: str | None = None,
    u_height: int | None = None,
    psu_count: int | None = None,
    username: str = "teknisi",
) -> None:
    """``username`` records the server's arrival as the office's technician would in NetBox's UI (SOP 000.7,
    003.9, 004.7; agent.steps.delivery): the server's serial, U height and PSU count in the delivery fields and the
    tag ``delivered``, in one change under their own token (the changelog names them). A fact not given is the
    request's own: the server as requested."""
    mine = official(username).dcim.devices.get(dev.id)
    dtype = official(username).dcim.device_types.get(mine.device_type.id)
    fields = {
        "dcagent_delivered_serial": str(mine.serial or "") if serial is None else serial,
        "dcagent_delivered_u_height": int(float(dtype.u_height)) if u_height is None else u_height,
        "dcagent_delivered_psu_count": int(dtype.power_port_template_count) if psu_count is None else psu_count,
    }
    tags = [{"slug": t.slug} for t in mine.tags if t.slug != "delivered"] + [{"slug": "delivered"}]
    mine.update({"custom_fields": fields, "tags": tags})


def record_installed(dev: Any, username: str = "teknisi") -> None:
    """``username`` records the server installed and configured as the office's team would in NetBox's UI (SOP
    003.10; agent.steps.acts): the tag ``installed``, under their own token (the changelog names them)."""
    mine = official(username).dcim.devices.get(dev.id)
    tags = [{"slug": t.slug} for t in mine.tags if t.slug != "installed"] + [{"slug": "installed"}]
    mine.update({"tags": tags})


def approve(dev: Any, site: str = "dc-batam") -> None:
    """Every decision of the site's colocation chain, each by its official, in order."""
    for tag, username in chain(site):
        decide(dev, tag, username)


def file_request(nb: Any, *, prefix: str = "srv-test", vid: int = 110, bandwidth: int = 50, fqdn: str | None = None,
                 rack: str | None = None, tags: tuple[str, ...] = ("sop-colocation",), approved: bool = True,
                 device_type: str = "poweredge-r650", tenant: str = "dinkes", site: str = "dc-batam",
                 delivered: bool = True) -> Any:  # fmt: skip
    """A planned server with the request's fields, filed (created with ``tags``) by the admin; if ``approved``,
    decided by the site's officials. If ``delivered``, the technician records the server's arrival right before the
    approval (here, or a test's own later one): the run then finds the server there and does not wait for it."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    group = nb.ipam.vlan_groups.get(slug=f"vlan-{site}")
    where = nb.dcim.sites.get(slug=site)
    vlan = nb.ipam.vlans.get(vid=vid, group_id=group.id)
    data: dict[str, Any] = {
        "name": name, "site": where.id, "role": nb.dcim.device_roles.get(slug="server").id,
        "device_type": nb.dcim.device_types.get(slug=device_type).id,
        "platform": nb.dcim.platforms.get(slug="linux").id, "tenant": nb.tenancy.tenants.get(slug=tenant).id,
        "status": "planned", "serial": f"SN-{name}",
        "custom_fields": {"dcagent_letter_number": "445/77/DINKES/2026", "dcagent_requester_contact": "Sari, 0812",
                          "dcagent_fqdn": fqdn or f"{name}.dc.lab", "dcagent_server_vlan": vlan.id,
                          "dcagent_bandwidth_mbps": bandwidth},
        "tags": [{"slug": t} for t in tags],
    }  # fmt: skip
    if rack:
        data["rack"] = nb.dcim.racks.get(site_id=where.id, name=rack).id
    dev = nb.dcim.devices.create(data)
    if delivered:
        with _SHIPPING:
            _AWAITED.add(int(dev.id))
    if approved:
        approve(dev, site)
    return dev


def cabled_port(nb: Any, dev: Any, interface: str = "eno1") -> tuple[str, str]:
    """(switch, port) the device's interface is cabled to, as NetBox records it."""
    peer = nb.dcim.interfaces.get(device_id=dev.id, name=interface).link_peers[0]
    return (peer["device"]["name"], peer["name"]) if isinstance(peer, dict) else (peer.device.name, peer.name)


def remove_request(nb: Any, dev: Any) -> None:
    """Remove everything a colocation run may have made for ``dev``: Zabbix host, DNS, switch port, IPs, device."""
    settings = load_settings(None)
    zabbix = clients.zabbix(settings)
    host = zabbix.host_id(dev.name)
    if host:
        zabbix.delete_hosts([host])
    assert settings.dns is not None
    dns = clients.dns(settings.dns)
    for ip in nb.ipam.ip_addresses.filter(description__ic=dev.name):
        for value in dns.lookup(f"{ip.dns_name}.", "A"):
            dns.delete_record(settings.dns.zone, f"{ip.dns_name}.", "A")
            ptr = reverse_name(value)
            zone = next((z for z in settings.dns.reverse_zones if in_zone(ptr, z)), None)
            if zone is not None:
                dns.delete_record(zone, ptr, "PTR")
        ip.delete()
    for iface in nb.dcim.interfaces.filter(device_id=dev.id, cabled=True):
        peer = iface.link_peers[0] if iface.link_peers else None
        if peer is None:
            continue
        sw = peer["device"]["name"] if isinstance(peer, dict) else peer.device.name
        port = peer["name"] if isinstance(peer, dict) else peer.name
        db = f"unix:{os.environ['LAB_DIR']}/switches/{sw}/db.sock"
        subprocess.run(["ovs-vsctl", f"--db={db}", "clear", "port", port, "tag", "--", "remove", "port", port,
                        "external_ids", "description"], check=False, capture_output=True)  # fmt: skip
        sw_port = nb.dcim.interfaces.get(peer["id"] if isinstance(peer, dict) else peer.id)
        if sw_port is not None:
            sw_port.update({"mode": None, "untagged_vlan": None, "description": ""})
    # NetBox keeps a cable whose device end is deleted (half a cable, the other port still "cabled"): remove them.
    for kind in (nb.dcim.interfaces, nb.dcim.power_ports):
        for component in kind.filter(device_id=dev.id):
            if component.cable is not None:
                cable = nb.dcim.cables.get(component.cable.id)
                if cable is not None:
                    cable.delete()
    fresh = nb.dcim.devices.get(dev.id)
    if fresh is not None:
        fresh.delete()
    dataplane.remove(str(dev.name))  # the server's namespace, if a test delivered it onto the data plane


def prune_half_cables(nb: Any) -> int:
    """Delete cables left with one end (from devices deleted before their cables); returns how many."""
    pruned = 0
    for cable in nb.dcim.cables.all():
        if not cable.a_terminations or not cable.b_terminations:
            cable.delete()
            pruned += 1
    return pruned


def _shared_vrf(nb: Any, name: str) -> int:
    """A VRF that allows duplicate addresses. NetBox does not keep VRF names unique: two tests creating it at once
    may make two, and both then use the oldest."""
    found = sorted(int(v.id) for v in nb.ipam.vrfs.filter(name=name))
    if not found:
        nb.ipam.vrfs.create({"name": name, "enforce_unique": False})
        found = sorted(int(v.id) for v in nb.ipam.vrfs.filter(name=name))
    return found[0]


def file_backup_request(nb: Any, *, paths: str, schedule: str = "0 1 * * *", retention: str = "last=3",
                        tags: tuple[str, ...] = ("sop-backup", "approved"), address: str = "127.0.2.1/32",
                        ssh_port: int = 2222, vrf: str | None = None) -> Any:  # fmt: skip
    """A colocated server reachable over SSH (primary IP + ``ssh`` service) asking for backups. With ``vrf`` its
    address lives in that VRF (one that allows duplicates), so that several such servers can share the one SSH
    server's address at once; else in the global table, where the newest device takes the address over."""
    name = f"srv-bkp-{uuid.uuid4().hex[:6]}"
    site = nb.dcim.sites.get(slug="dc-batam")
    dev = nb.dcim.devices.create({
        "name": name, "site": site.id, "role": nb.dcim.device_roles.get(slug="server").id,
        "device_type": nb.dcim.device_types.get(slug="poweredge-r650").id,
        "platform": nb.dcim.platforms.get(slug="linux").id, "tenant": nb.tenancy.tenants.get(slug="dinkes").id,
        "status": "active", "serial": f"SN-{name}",
        "custom_fields": {"dcagent_backup_paths": paths, "dcagent_backup_schedule": schedule,
                          "dcagent_backup_retention": retention},
    })  # fmt: skip
    iface = nb.dcim.interfaces.create({"device": dev.id, "name": "mgmt0", "type": "1000base-t"})
    # NetBox keeps addresses unique in the global table: there the SSH server's address moves to the newest device.
    for old in [] if vrf else nb.ipam.ip_addresses.filter(address=address, vrf_id="null"):
        holder = old.assigned_object.device if old.assigned_object and hasattr(old.assigned_object, "device") else None
        if holder is not None:
            nb.dcim.devices.get(holder.id).update({"primary_ip4": None})
        old.delete()
    ip = nb.ipam.ip_addresses.create({"address": address, "assigned_object_type": "dcim.interface",
                                      "assigned_object_id": iface.id, "description": f"{name} ssh",
                                      "vrf": _shared_vrf(nb, vrf) if vrf else None})  # fmt: skip
    dev.update({"primary_ip4": ip.id})
    nb.ipam.services.create({"parent_object_type": "dcim.device", "parent_object_id": dev.id, "name": "ssh",
                             "protocol": "tcp", "ports": [ssh_port]})  # fmt: skip
    if tags:
        dev.update({"tags": [{"slug": t} for t in tags]})
    return nb.dcim.devices.get(dev.id)
