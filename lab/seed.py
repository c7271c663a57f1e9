"""Demo data: a realistic regional data centre in NetBox, modelled on the SOPs. Idempotent (get-or-create).

Two offices (Batam, Sumbawa), 42U racks with occupied units and rack reservations, UPS-backed power panels with
A/B feeds per rack into 0U PDUs, top-of-rack switches matching the lab's OVS switches (platform, primary IP,
SSH service port), server VLANs and prefixes (110, 120, 310 inside 127.0.0.0/8, where every address answers; 130
and Sumbawa's 210 on the data plane in 198.18.0.0/15, where only a server plugged into the right port answers),
agencies (OPD) as tenants, and the server types a colocation request would use.
"""

from __future__ import annotations

import json
import os
import secrets as secrets_mod
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pynetbox
import requests

counts: Counter[str] = Counter()


def env() -> dict[str, str]:
    values = dict(os.environ)
    lab_env = Path(__file__).with_name("lab.env")
    if lab_env.is_file():
        for line in lab_env.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                values.setdefault(k, v)
    return values


def get_or_create(endpoint: Any, lookup: dict[str, Any], **fields: Any) -> Any:
    obj = endpoint.get(**lookup)
    if obj is None:
        obj = endpoint.create({**lookup, **fields})
        counts[f"{endpoint.name} created"] += 1
    else:
        counts[f"{endpoint.name} present"] += 1
    return obj


def cable(nb: Any, a_type: str, a: Any, b_type: str, b: Any) -> None:
    if a.cable is not None or b.cable is not None:
        counts["cables present"] += 1
        return
    nb.dcim.cables.create(
        {
            "a_terminations": [{"object_type": a_type, "object_id": a.id}],
            "b_terminations": [{"object_type": b_type, "object_id": b.id}],
            "status": "connected",
        }
    )
    counts["cables created"] += 1


SERVER_TYPES = [
    # model, slug, manufacturer, height, psu max W, psu allocated W, part number
    ("PowerEdge R650", "poweredge-r650", "dell", 1, 800, 350, "R650-1U"),
    ("PowerEdge R750", "poweredge-r750", "dell", 2, 1100, 520, "R750-2U"),
    ("ProLiant DL380 Gen10", "proliant-dl380-gen10", "hpe", 2, 800, 420, "868703-B21"),
    ("ThinkSystem SR630", "thinksystem-sr630", "lenovo", 1, 750, 300, "7X02"),
]

TENANTS = [
    ("Dinas Pendidikan", "disdik"),
    ("Dinas Kesehatan", "dinkes"),
    ("Badan Pengelolaan Keuangan dan Aset Daerah", "bpkad"),
    ("Dinas Kependudukan dan Pencatatan Sipil", "disdukcapil"),
]

SITES: list[dict[str, Any]] = [
    # slug, name, region, time zone, racks, switch (name, rack, mgmt ip, ssh port), vlans
    {
        "slug": "dc-batam",
        "name": "DC Diskominfo Kota Batam",
        "region": ("Kepulauan Riau", "kepri"),
        "tz": "Asia/Jakarta",
        "facility": "Gedung Pemko Batam Lt. 3",
        "racks": ["R01", "R02", "R03", "R04"],
        "switches": [("tor-btm-01", "R01", "127.0.1.1", 2201), ("tor-btm-02", "R02", "127.0.1.2", 2202)],
        # VLAN 130 is on the data plane (lab/lib/dataplane.sh): its gateway is an SVI on tor-btm-01, its servers
        # network namespaces behind the switch ports; 110 and 120 stay on loopback, where any address answers.
        "vlans": [
            (110, "SERVER-OPD", "127.10.0.0/24"),
            (120, "SERVER-DMZ", "127.10.1.0/24"),
            (130, "SERVER-APL", "198.18.30.0/24"),
        ],
        "feed_amps": {"R04": 16},  # an older, smaller circuit: fills up first
    },
    {
        "slug": "dc-sumbawa",
        "name": "DC DKISS Kabupaten Sumbawa",
        "region": ("Nusa Tenggara Barat", "ntb"),
        "tz": "Asia/Makassar",
        "facility": "Kantor DKISS Sumbawa Besar",
        "racks": ["R01", "R02"],
        "switches": [("tor-sbw-01", "R01", "127.0.1.3", 2203)],
        # On the data plane: VLAN 210's gateway is an SVI on tor-sbw-01 (lab/lib/dataplane.sh).
        "vlans": [(210, "SERVER-OPD", "198.18.210.0/24")],
        "feed_amps": {},
    },
    {  # Central Java's own playbook (SOP 004) serves it; no rack is recorded yet, so requests there are refused
        "slug": "dc-jateng",
        "name": "DC Diskominfo Provinsi Jawa Tengah",
        "region": ("Jawa Tengah", "jateng"),
        "tz": "Asia/Jakarta",
        "facility": "Jl. Menteri Supeno I Nomor 2, Semarang",
        "racks": [],
        "switches": [],
        "vlans": [(310, "SERVER-OPD", "127.30.0.0/24")],
        "feed_amps": {},
    },
]

# Existing colocated servers: site, rack, U, name, type slug, tenant, vlan vid, host octet, switch, port
SERVERS = [
    ("dc-batam", "R01", 1, "srv-bpkad-01", "poweredge-r750", "bpkad", 110, 10, "tor-btm-01", "swp1"),
    ("dc-batam", "R01", 3, "srv-dinkes-01", "poweredge-r650", "dinkes", 110, 11, "tor-btm-01", "swp2"),
    ("dc-batam", "R01", 4, "srv-disdik-01", "thinksystem-sr630", "disdik", 120, 10, "tor-btm-01", "swp3"),
    ("dc-batam", "R02", 1, "srv-disdik-02", "proliant-dl380-gen10", "disdik", 110, 12, "tor-btm-02", "swp1"),
    ("dc-batam", "R04", 1, "srv-dinkes-02", "poweredge-r750", "dinkes", 110, 13, None, None),
    ("dc-batam", "R04", 3, "srv-bpkad-02", "poweredge-r750", "bpkad", 110, 14, None, None),
    ("dc-sumbawa", "R01", 1, "srv-disdukcapil-01", "poweredge-r650", "disdukcapil", 210, 10, "tor-sbw-01", "swp1"),
]

RESERVATIONS = [
    ("dc-batam", "R02", range(20, 25), "disdik", "Cadangan perluasan server Dinas Pendidikan"),
    ("dc-sumbawa", "R01", range(10, 13), "disdukcapil", "Cadangan server SIAK"),
]


def seed(nb: Any) -> None:
    dcim, tenancy = nb.dcim, nb.tenancy
    group = get_or_create(tenancy.tenant_groups, {"slug": "opd"}, name="OPD (Organisasi Perangkat Daerah)")
    tenants = {
        slug: get_or_create(tenancy.tenants, {"slug": slug}, name=name, group=group.id) for name, slug in TENANTS
    }
    mfr = {
        slug: get_or_create(dcim.manufacturers, {"slug": slug}, name=name)
        for name, slug in [
            ("Dell", "dell"),
            ("HPE", "hpe"),
            ("Lenovo", "lenovo"),
            ("APC", "apc"),
            ("Open vSwitch", "ovs"),
        ]
    }
    roles = {
        slug: get_or_create(dcim.device_roles, {"slug": slug}, name=name, color=color)
        for name, slug, color in [
            ("Server", "server", "2196f3"),
            ("ToR Switch", "tor-switch", "4caf50"),
            ("PDU", "pdu", "ff9800"),
        ]
    }
    platforms = {
        "ovs_linux": get_or_create(
            dcim.platforms, {"slug": "ovs_linux"}, name="Open vSwitch (Linux)", manufacturer=mfr["ovs"].id
        ),
        "linux": get_or_create(dcim.platforms, {"slug": "linux"}, name="Linux"),
    }
    types = {
        slug: server_type(nb, model, slug, mfr[m].id, u, mx, al, pn) for model, slug, m, u, mx, al, pn in SERVER_TYPES
    }
    switch_t = switch_type(nb, mfr["ovs"].id)
    pdu_t = pdu_type(nb, mfr["apc"].id)
    switches: dict[str, Any] = {}
    for spec in SITES:
        switches |= seed_site(nb, spec, tenants, roles, platforms, switch_t, pdu_t)
    for site, rack, pos, name, type_slug, tenant, vid, octet, sw, port in SERVERS:
        seed_server(
            nb,
            site,
            rack,
            pos,
            name,
            types[type_slug],
            roles["server"],
            platforms["linux"],
            tenants[tenant],
            vid,
            octet,
            switches.get(sw or ""),
            port,
        )
    set_capacity_fields(nb)
    seed_connections(nb, tenants)
    for site, rack, units, tenant, why in RESERVATIONS:
        r = dcim.racks.get(site=site, name=rack)
        if not list(dcim.rack_reservations.filter(rack_id=r.id, description=why)):
            user = nb.users.users.get(username="admin")
            dcim.rack_reservations.create(
                {"rack": r.id, "units": list(units), "user": user.id, "tenant": tenants[tenant].id, "description": why}
            )
            counts["rack-reservations created"] += 1


UPLINK_MBPS = {"dc-batam": 1000, "dc-sumbawa": 200}
UPS_BUDGET_W = {"dc-batam": 12000, "dc-sumbawa": 4000}
GRANTED_MBPS = {"srv-bpkad-01": 200, "srv-dinkes-01": 100, "srv-disdik-01": 100, "srv-disdik-02": 100,
                "srv-dinkes-02": 50, "srv-bpkad-02": 50, "srv-disdukcapil-01": 150}  # fmt: skip


def set_capacity_fields(nb: Any) -> None:
    """Uplink, UPS budgets and granted bandwidth: custom fields from `dcagent bootstrap` (run before this)."""
    if nb.extras.custom_fields.get(name="dcagent_uplink_mbps") is None:
        print("seed: custom fields missing (run dcagent bootstrap first); capacity fields skipped")
        return
    for slug, mbps in UPLINK_MBPS.items():
        site = nb.dcim.sites.get(slug=slug)
        if site.custom_fields.get("dcagent_uplink_mbps") != mbps:
            site.update({"custom_fields": {"dcagent_uplink_mbps": mbps}})
        for panel in nb.dcim.power_panels.filter(site_id=site.id):
            if panel.custom_fields.get("dcagent_ups_budget_w") != UPS_BUDGET_W[slug]:
                panel.update({"custom_fields": {"dcagent_ups_budget_w": UPS_BUDGET_W[slug]}})
    for name, mbps in GRANTED_MBPS.items():
        dev = nb.dcim.devices.get(name=name)
        if dev.custom_fields.get("dcagent_bandwidth_mbps") != mbps:
            dev.update({"custom_fields": {"dcagent_bandwidth_mbps": mbps}})


# Agencies' connections (SOP 001): circuits of the office's own provider, typed internet / intranet, drawing
# prefixes from the site's container of that type. One example request, planned and untagged: tag it
# sop-new-network to try the playbook.
CONTAINERS = {
    # On the data plane (lab/lib/dataplane.sh): a connection's gateway answers only once the router has it.
    "opd-internet": ("198.19.0.0/18", "Prefix OPD internet"),
    "opd-intranet": ("198.19.64.0/18", "Prefix OPD intranet"),
}


def seed_connections(nb: Any, tenants: dict[str, Any]) -> None:
    circuits, ipam = nb.circuits, nb.ipam
    provider = get_or_create(circuits.providers, {"slug": "diskominfo-batam"}, name="Diskominfo Kota Batam")
    kinds = {slug: get_or_create(circuits.circuit_types, {"slug": slug}, name=name)
             for slug, name in (("internet", "Internet"), ("intranet", "Intranet"))}  # fmt: skip
    site = nb.dcim.sites.get(slug="dc-batam")
    for role, (prefix, name) in CONTAINERS.items():
        r = get_or_create(ipam.roles, {"slug": role}, name=name)
        get_or_create(ipam.prefixes, {"prefix": prefix}, status="container", role=r.id, scope_type="dcim.site",
                      scope_id=site.id, description=name)  # fmt: skip
    if nb.extras.custom_fields.get(name="dcagent_hosts_needed") is None:
        print("seed: custom fields missing (run dcagent bootstrap first); example connection skipped")
        return
    example = get_or_create(
        circuits.circuits, {"cid": "BTM-INET-0001"}, provider=provider.id, type=kinds["internet"].id,
        status="planned", tenant=tenants["dinkes"].id, commit_rate=20000, description="Contoh permohonan",
        custom_fields={"dcagent_letter_number": "555/DINKES/XII/2026", "dcagent_hosts_needed": 20,
                       "dcagent_requester_contact": "Kasubag Umum Dinkes, pic@opd.lab",
                       "dcagent_purpose": "Internet kantor Dinas Kesehatan"},
    )  # fmt: skip
    if not list(circuits.circuit_terminations.filter(circuit_id=example.id, term_side="A")):
        circuits.circuit_terminations.create({"circuit": example.id, "term_side": "A", "termination_type": "dcim.site",
                                              "termination_id": site.id})  # fmt: skip
        counts["circuit-terminations created"] += 1


def server_type(nb: Any, model: str, slug: str, mfr: int, height: int, max_w: int, alloc_w: int, pn: str) -> Any:
    dt = get_or_create(
        nb.dcim.device_types,
        {"slug": slug},
        model=model,
        manufacturer=mfr,
        u_height=height,
        is_full_depth=True,
        part_number=pn,
        airflow="front-to-rear",
    )
    for psu in ("PSU1", "PSU2"):
        get_or_create(
            nb.dcim.power_port_templates,
            {"device_type_id": dt.id, "name": psu},
            device_type=dt.id,
            type="iec-60320-c14",
            maximum_draw=max_w,
            allocated_draw=alloc_w,
        )
    for name, kind, mgmt in (
        ("eno1", "1000base-t", False),
        ("eno2", "1000base-t", False),
        ("idrac", "1000base-t", True),
    ):
        get_or_create(
            nb.dcim.interface_templates,
            {"device_type_id": dt.id, "name": name},
            device_type=dt.id,
            type=kind,
            mgmt_only=mgmt,
        )
    return dt


def switch_type(nb: Any, mfr: int) -> Any:
    dt = get_or_create(
        nb.dcim.device_types,
        {"slug": "ovs-tor-48"},
        model="OVS ToR 48x1G",
        manufacturer=mfr,
        u_height=1,
        is_full_depth=False,
    )
    wanted = [(f"swp{i}", "1000base-t", False) for i in range(1, 49)]
    wanted += [
        ("uplink1", "10gbase-x-sfpp", False),
        ("uplink2", "10gbase-x-sfpp", False),
        ("mgmt0", "1000base-t", True),
    ]
    have = {t.name for t in nb.dcim.interface_templates.filter(device_type_id=dt.id)}
    missing = [{"device_type": dt.id, "name": n, "type": k, "mgmt_only": m} for n, k, m in wanted if n not in have]
    if missing:
        nb.dcim.interface_templates.create(missing)
        counts["interface-templates created"] += len(missing)
    for psu in ("PSU1", "PSU2"):
        get_or_create(
            nb.dcim.power_port_templates,
            {"device_type_id": dt.id, "name": psu},
            device_type=dt.id,
            type="iec-60320-c14",
            maximum_draw=150,
            allocated_draw=90,
        )
    return dt


def pdu_type(nb: Any, mfr: int) -> Any:
    dt = get_or_create(
        nb.dcim.device_types,
        {"slug": "ap8853"},
        model="AP8853 Rack PDU 0U",
        manufacturer=mfr,
        u_height=0,
        is_full_depth=False,
    )
    inlet = get_or_create(
        nb.dcim.power_port_templates,
        {"device_type_id": dt.id, "name": "input"},
        device_type=dt.id,
        type="iec-60309-p-n-e-6h",
    )
    have = {t.name for t in nb.dcim.power_outlet_templates.filter(device_type_id=dt.id)}
    missing = [
        {"device_type": dt.id, "name": f"outlet{i}", "type": "iec-60320-c13", "power_port": inlet.id, "feed_leg": "A"}
        for i in range(1, 25)
        if f"outlet{i}" not in have
    ]
    if missing:
        nb.dcim.power_outlet_templates.create(missing)
        counts["power-outlet-templates created"] += len(missing)
    return dt


def seed_site(
    nb: Any,
    spec: dict[str, Any],
    tenants: dict[str, Any],
    roles: dict[str, Any],
    platforms: dict[str, Any],
    switch_t: Any,
    pdu_t: Any,
) -> dict[str, Any]:
    dcim, ipam = nb.dcim, nb.ipam
    region = get_or_create(dcim.regions, {"slug": spec["region"][1]}, name=spec["region"][0])
    site = get_or_create(
        dcim.sites,
        {"slug": spec["slug"]},
        name=spec["name"],
        region=region.id,
        status="active",
        time_zone=spec["tz"],
        facility=spec["facility"],
    )
    panels = {
        leg: get_or_create(
            dcim.power_panels,
            {"site_id": site.id, "name": f"PP-UPS-{leg}"},
            site=site.id,
            description=f"Panel daya jalur {leg}, dicadangkan UPS 20 kVA + genset",
        )
        for leg in ("A", "B")
    }
    racks = {}
    for name in spec["racks"]:
        rack = get_or_create(
            dcim.racks,
            {"site_id": site.id, "name": name},
            site=site.id,
            status="active",
            u_height=42,
            width=19,
            form_factor="4-post-cabinet",
            outer_depth=1070,
            outer_unit="mm",
        )
        racks[name] = rack
        amps = spec["feed_amps"].get(name, 32)
        for leg in ("A", "B"):
            feed = get_or_create(
                dcim.power_feeds,
                {"power_panel_id": panels[leg].id, "name": f"{name}-{leg}"},
                power_panel=panels[leg].id,
                rack=rack.id,
                status="active",
                type="primary" if leg == "A" else "redundant",
                supply="ac",
                phase="single-phase",
                voltage=230,
                amperage=amps,
                max_utilization=80,
            )
            pdu = get_or_create(
                dcim.devices,
                {"site_id": site.id, "name": f"pdu-{spec['slug'][3:]}-{name.lower()}-{leg.lower()}"},
                site=site.id,
                rack=rack.id,
                device_type=pdu_t.id,
                role=roles["pdu"].id,
                status="active",
            )
            inlet = nb.dcim.power_ports.get(device_id=pdu.id, name="input")
            cable(nb, "dcim.powerfeed", feed, "dcim.powerport", inlet)
    vgroup = get_or_create(
        nb.ipam.vlan_groups,
        {"slug": f"vlan-{spec['slug']}"},
        name=f"VLAN {spec['name']}",
        scope_type="dcim.site",
        scope_id=site.id,
    )
    for vid, vname, prefix in spec["vlans"]:
        vlan = get_or_create(
            ipam.vlans, {"group_id": vgroup.id, "vid": vid}, group=vgroup.id, name=vname, status="active"
        )
        get_or_create(
            ipam.prefixes,
            {"prefix": prefix},
            vlan=vlan.id,
            status="active",
            scope_type="dcim.site",
            scope_id=site.id,
            description=f"Server {vname} {spec['name']}",
        )
        gw = prefix.rsplit(".", 1)[0] + ".1/24"
        get_or_create(ipam.ip_addresses, {"address": gw}, status="active", role="anycast", description="gateway")
    get_or_create(ipam.prefixes, {"prefix": "127.0.1.0/24"}, status="active", description="Manajemen switch (lab)")
    result = {}
    for name, rack, ip, port in spec["switches"]:
        sw = get_or_create(
            dcim.devices,
            {"site_id": site.id, "name": name},
            site=site.id,
            rack=racks[rack].id,
            position=42,
            face="front",
            device_type=switch_t.id,
            role=roles["tor-switch"].id,
            platform=platforms["ovs_linux"].id,
            status="active",
        )
        mgmt = dcim.interfaces.get(device_id=sw.id, name="mgmt0")
        addr = get_or_create(
            ipam.ip_addresses,
            {"address": f"{ip}/32", "vrf_id": "null"},  # the global table (tests may repeat it in a VRF of their own)
            status="active",
            assigned_object_type="dcim.interface",
            assigned_object_id=mgmt.id,
            dns_name=f"{name}.mgmt.dc.lab",
        )
        if sw.primary_ip4 is None or sw.primary_ip4.id != addr.id:
            sw.update({"primary_ip4": addr.id})
        get_or_create(
            ipam.services,
            {"parent_object_id": sw.id, "parent_object_type": "dcim.device", "name": "ssh"},
            protocol="tcp",
            ports=[port],
            description="CLI switch (netmiko ovs_linux)",
        )
        power_up(nb, sw, site.id, racks[rack].id, spec["slug"], rack, 24)
        result[name] = sw
    return result


def power_up(nb: Any, device: Any, site_id: int, rack_id: int, site_slug: str, rack: str, outlet: int) -> None:
    """PSU1 to the rack's A PDU, PSU2 to the B PDU, on the same outlet number."""
    for psu, leg in (("PSU1", "a"), ("PSU2", "b")):
        pdu = nb.dcim.devices.get(site_id=site_id, name=f"pdu-{site_slug[3:]}-{rack.lower()}-{leg}")
        port = nb.dcim.power_ports.get(device_id=device.id, name=psu)
        out = nb.dcim.power_outlets.get(device_id=pdu.id, name=f"outlet{outlet}")
        cable(nb, "dcim.powerport", port, "dcim.poweroutlet", out)


def seed_server(
    nb: Any,
    site: str,
    rack: str,
    pos: int,
    name: str,
    dtype: Any,
    role: Any,
    platform: Any,
    tenant: Any,
    vid: int,
    octet: int,
    switch: Any,
    port: str | None,
) -> None:
    s = nb.dcim.sites.get(slug=site)
    r = nb.dcim.racks.get(site_id=s.id, name=rack)
    dev = get_or_create(
        nb.dcim.devices,
        {"site_id": s.id, "name": name},
        site=s.id,
        rack=r.id,
        position=pos,
        face="front",
        device_type=dtype.id,
        role=role.id,
        platform=platform.id,
        tenant=tenant.id,
        status="active",
        serial=f"SN{zlib.crc32(name.encode()) % 10**8:08d}",
    )
    vlan = nb.ipam.vlans.get(vid=vid, group=f"vlan-{site}")
    prefix = nb.ipam.prefixes.get(vlan_id=vlan.id)
    eno1 = nb.dcim.interfaces.get(device_id=dev.id, name="eno1")
    address = f"{str(prefix.prefix).rsplit('.', 1)[0]}.{octet}/24"
    ip = get_or_create(
        nb.ipam.ip_addresses,
        {"address": address},
        status="active",
        tenant=tenant.id,
        assigned_object_type="dcim.interface",
        assigned_object_id=eno1.id,
        dns_name=f"{name}.dc.lab",
    )
    if dev.primary_ip4 is None or dev.primary_ip4.id != ip.id:
        dev.update({"primary_ip4": ip.id})
    power_up(nb, dev, s.id, r.id, site, rack, pos)
    if switch is not None and port is not None:
        swp = nb.dcim.interfaces.get(device_id=switch.id, name=port)
        if swp.mode is None:
            swp.update({"mode": "access", "untagged_vlan": vlan.id, "description": name})
        cable(nb, "dcim.interface", eno1, "dcim.interface", swp)


# The offices' officials, one lab user per NetBox group the playbooks' decisions name (trigger.decisions), a
# technician of the group `teknisi` (who records a server's arrival: agent.steps.delivery) and a staff member in
# none. Each may view and tag devices; their API tokens are the lab's, for the tests.
OFFICIALS = [("kadis", "Kepala", "Dinas", "kepala-dinas"), ("kabid", "Kepala", "Bidang", "kepala-bidang"),
             ("kasi", "Kepala", "Seksi", "kepala-seksi"), ("teknisi", "Teknisi", "Data Center", "teknisi"),
             ("staf", "Staf", "Teknis", None)]  # fmt: skip
OFFICIAL_VIEWS = ["dcim.device", "dcim.site", "dcim.rack", "dcim.devicetype", "dcim.devicerole", "dcim.platform",
                  "tenancy.tenant", "ipam.vlan", "ipam.ipaddress", "extras.tag", "circuits.circuit",
                  "circuits.circuittype", "circuits.provider"]  # fmt: skip


def officials(nb: Any, url: str, secrets: Path) -> None:
    """Groups, users, a permission to view and tag requests (devices, circuits), and v2 tokens in
    ``secrets/netbox-officials.json``."""
    tokens_file = secrets / "netbox-officials.json"
    tokens: dict[str, str] = json.loads(tokens_file.read_text()) if tokens_file.is_file() else {}
    ids = []
    for username, first, last, group in OFFICIALS:
        groups = [get_or_create(nb.users.groups, {"name": group}).id] if group else []
        user = nb.users.users.get(username=username)
        password = secrets_mod.token_urlsafe(24)
        if user is None:
            user = nb.users.users.create({"username": username, "password": password, "first_name": first,
                                          "last_name": last, "groups": groups})  # fmt: skip
            counts["users created"] += 1
        elif _token_works(url, tokens.get(username)):
            if sorted(g.id if hasattr(g, "id") else g for g in user.groups or []) != sorted(groups):
                user.update({"groups": groups})  # a lab user made before its group was: joined to it, once
            ids.append(user.id)
            counts["users present"] += 1
            continue
        else:
            user.update({"password": password, "groups": groups})
        ids.append(user.id)
        answer = requests.post(f"{url}/api/users/tokens/provision/", json={"username": username, "password": password,
                               "description": "dcagent lab"}, timeout=30)  # fmt: skip
        answer.raise_for_status()
        tokens[username] = f"nbt_{answer.json()['key']}.{answer.json()['token']}"
    perm = get_or_create(nb.users.permissions, {"name": "lab-officials"}, object_types=OFFICIAL_VIEWS,
                         actions=["view", "change"], users=ids, description="Officials tag requests")  # fmt: skip
    if sorted(u.id if hasattr(u, "id") else u for u in perm.users) != sorted(ids):
        perm.update({"users": ids})
    if sorted(str(t) for t in perm.object_types) != sorted(OFFICIAL_VIEWS):  # a lab seeded before circuits
        perm.update({"object_types": OFFICIAL_VIEWS})
    old = os.umask(0o077)
    try:
        tokens_file.write_text(json.dumps(tokens))
    finally:
        os.umask(old)


def delivery_fields(nb: Any) -> None:
    """The custom fields a technician fills when a server arrives and the tag they add (`dcagent bootstrap`, run
    first by lab/seed, makes them as well; here so that a NetBox bootstrapped before them gets them too)."""
    from agent.setup.contract import CUSTOM_FIELDS  # the contract's own definitions, not a second copy of them

    for cf in (c for c in CUSTOM_FIELDS if c.recorded_during_run):
        get_or_create(nb.extras.custom_fields, {"name": cf.name}, type=cf.type, object_types=list(cf.object_types),
                      label=cf.label, description=cf.description, group_name="dcagent")  # fmt: skip
    get_or_create(nb.extras.tags, {"slug": "delivered"}, name="delivered", color="607d8b",
                  description="Server telah tiba di data center (dicatat teknisi, grup teknisi)")  # fmt: skip
    get_or_create(nb.extras.tags, {"slug": "installed"}, name="installed", color="607d8b",
                  description="Instalasi dan konfigurasi server selesai (dicatat tim, grup teknisi)")  # fmt: skip


def _token_works(url: str, token: str | None) -> bool:
    if not token:
        return False
    answer = requests.get(f"{url}/api/status/", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.status_code == 200


def main() -> int:
    e = env()
    token = e.get("DCAGENT_NETBOX__TOKEN") or Path(e["DCAGENT_NETBOX__TOKEN_FILE"]).read_text().strip()
    nb = pynetbox.api(e["DCAGENT_NETBOX__URL"], token=token)
    seed(nb)
    delivery_fields(nb)
    officials(nb, e["DCAGENT_NETBOX__URL"].rstrip("/"), Path(e["DCAGENT_NETBOX__TOKEN_FILE"]).parent)
    created = sum(v for k, v in counts.items() if k.endswith("created"))
    present = sum(v for k, v in counts.items() if k.endswith("present"))
    print(f"seed: {created} objects created, {present} already present")
    for key in sorted(k for k in counts if k.endswith("created")):
        print(f"  {key}: {counts[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
