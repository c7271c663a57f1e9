"""Arista EOS switches (netmiko ``arista_eos``)."""

from __future__ import annotations

import re

from integrations.ssh import SSHCredentials
from integrations.switches.base import register
from integrations.switches.ios_l3 import EOS_SHORT_NAMES
from integrations.switches.ios_like import IosLikeDriver
from integrations.switches.session import connect


@register
class AristaEosDriver(IosLikeDriver):
    platform = "arista_eos"
    show_interface = "show running-config interfaces {name}"
    port_name = re.compile(r"(Ethernet|Et)\d+(/\d+)?")
    policy_map = "policy-map type quality-of-service {name}"
    police = "police rate {kbps} kbps burst-size {burst_kbytes} kbytes"
    service_policy = "service-policy type qos input {name}"
    gateway_address = "ip address {cidr}"
    show_arp = "show ip arp interface {svi}"
    short_names = EOS_SHORT_NAMES

    @classmethod
    def open(cls, host: str, port: int, creds: SSHCredentials, name: str) -> AristaEosDriver:
        return cls(connect("arista_eos", host, port, creds, name), name)
