"""Switch configurations are stored and journalled with their secrets masked."""

from __future__ import annotations

import pytest

from integrations.switches.secrets import MASK, mask_secrets

CONFIG = """\
hostname tor-btm-01
enable secret 9 $9$abcdefghijkl$mnopqrstuv
username admin privilege 15 secret 5 $1$salt$hashedpw
username ops password 0 PlainPass1
snmp-server community K0minfoRO RO
snmp-server host 10.0.0.9 version 2c TrapComm
tacacs-server host 10.0.0.7 key 7 0822455D0A16
radius-server key RadiusKey
key chain OSPF
 key 1
  key-string 7 LinkKey99
interface Vlan110
 ip ospf message-digest-key 1 md5 OspfMd5Key
router bgp 65001
 neighbor 10.0.0.1 password 7 BgpPass123
interface Ethernet1
 description srv-disdik-09 key account
"""
SECRETS = ("$9$abcdefghijkl$mnopqrstuv", "$1$salt$hashedpw", "PlainPass1", "K0minfoRO", "TrapComm", "0822455D0A16",
           "RadiusKey", "LinkKey99", "OspfMd5Key", "BgpPass123")  # fmt: skip


@pytest.mark.parametrize("platform", ["cisco_ios", "arista_eos", "some_new_platform"])
def test_every_secret_is_masked_and_the_shape_kept(platform: str) -> None:
    masked = mask_secrets(CONFIG, platform)
    for secret in SECRETS:
        assert secret not in masked, secret
    assert f"snmp-server community {MASK} RO" in masked
    assert "hostname tor-btm-01" in masked and "description srv-disdik-09 key account" in masked
    assert masked.count("\n") == CONFIG.count("\n")


def test_a_changed_line_around_a_secret_shows_but_neither_value() -> None:
    before = mask_secrets("snmp-server community OldOne RO\n", "cisco_ios")
    after = mask_secrets("snmp-server community NewOne RW\n", "cisco_ios")
    assert before != after and "OldOne" not in before + after and "NewOne" not in before + after
    assert mask_secrets("snmp-server community NewOne RO\n", "cisco_ios") == before  # the value alone: no change
