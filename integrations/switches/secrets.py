"""Secrets in a switch's running configuration are masked before the configuration is stored or shown.

Oxidized calls this ``remove_secret``: community strings, local user passwords and hashes, enable secrets, AAA
and routing-protocol keys. A masked line keeps its shape (``snmp-server community <secret removed> RO``); as with
Oxidized, a change of the secret value alone is therefore no change of the stored file (a hash of a short community
string would be guessable). The patterns cover the IOS-like syntax of cisco_ios and arista_eos; ovs_linux prints no
secret. A platform adds its own patterns here.
"""

from __future__ import annotations

import re

MASK = "<secret removed>"

_IOS_LIKE: tuple[re.Pattern[str], ...] = tuple(
    # \s inside a line only: a pattern must never reach into the next line
    re.compile(p.replace(r"\s", r"[ \t]"), re.IGNORECASE | re.MULTILINE)
    for p in (
        r"^(\s*snmp-server community\s+)(\S+)",
        r"^(\s*snmp-server host\s+\S+(?:\s+(?:vrf\s+\S+|informs|traps|version\s+\S+))*\s+)(\S+)",
        r"^(\s*username\s+\S+(?:\s+\S+)*?\s+(?:secret|password)(?:\s+(?:sha512|\d+))?\s+)(\S+)",
        r"^(\s*enable\s+(?:secret|password)(?:\s+(?:sha512|\d+))?\s+)(\S+)",
        r"^(\s*(?:tacacs-server|radius-server)\s+(?:host\s+\S+\s+)?key(?:\s+\d+)?\s+)(\S+)",
        r"^(\s*key-string(?:\s+\d+)?\s+)(\S+)",
        r"^(\s*(?:ip\s+)?(?:ospf\s+)?(?:message-digest-key\s+\d+\s+md5|authentication-key)(?:\s+\d+)?\s+)(\S+)",
        r"^(\s*neighbor\s+\S+\s+password(?:\s+\d+)?\s+)(\S+)",
        r"^(\s*(?:pre-shared-key|crypto isakmp key)(?:\s+\d+)?\s+)(\S+)",
        r"^(\s*wpa-psk\s+ascii(?:\s+\d+)?\s+)(\S+)",
    )
)
PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {"cisco_ios": _IOS_LIKE, "arista_eos": _IOS_LIKE}


def mask_secrets(config: str, platform: str) -> str:
    """``config`` with every secret the platform's patterns know replaced by :data:`MASK`.

    An unknown platform gets the IOS-like patterns: masking too much is harmless, too little is a leak.
    """
    for pattern in PATTERNS.get(platform, _IOS_LIKE):
        config = pattern.sub(lambda m: m.group(1) + MASK, config)
    return config
