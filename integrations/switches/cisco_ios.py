"""Cisco IOS / IOS-XE access switches (netmiko ``cisco_ios``)."""

from __future__ import annotations

import re

from integrations.ssh import SSHCredentials
from integrations.switches.base import register
from integrations.switches.ios_l3 import IOS_SHORT_NAMES
from integrations.switches.ios_like import IosLikeDriver
from integrations.switches.session import connect


@register
class CiscoIosDriver(IosLikeDriver):
    platform = "cisco_ios"
    show_interface = "show running-config interface {name}"
    port_name = re.compile(r"(GigabitEthernet|TenGigabitEthernet|FastEthernet|Gi|Te|Fa)\d+(/\d+){1,2}")
    short_names = IOS_SHORT_NAMES

    @classmethod
    def open(cls, host: str, port: int, creds: SSHCredentials, name: str) -> CiscoIosDriver:
        return cls(connect("cisco_ios", host, port, creds, name), name)
