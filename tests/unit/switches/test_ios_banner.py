"""A router's running config may hold lines that look like CLI errors (a banner's ``^C`` delimiter, a ``%`` in its
text): reading the config must not take them for an error, and an error's text must not carry the config along
(review of issue 31)."""

from __future__ import annotations

import pytest

from integrations.errors import PermanentError
from integrations.switches.cisco_ios import CiscoIosDriver

CONFIG = """Building configuration...

Current configuration : 1834 bytes
!
hostname core-btm-01
!
banner motd ^C
  Akses hanya untuk petugas Diskominfo. 100% dicatat.
^C
!
interface Vlan110
 description gw SERVER-OPD
 ip address 198.18.10.1 255.255.255.0
!
end
"""


class Session:
    def __init__(self, answer: str) -> None:
        self.answer = answer

    def send_command(self, command_string: str) -> str:
        return self.answer


def test_a_banner_in_the_running_config_is_no_cli_error() -> None:
    state = CiscoIosDriver(Session(CONFIG), "core-btm-01").get_gateway(110)  # type: ignore[arg-type]
    assert state is not None and state.address == "198.18.10.1/24"


def test_a_real_cli_error_is_still_one_and_says_only_the_error() -> None:
    error = "show running-config\n                  ^\n% Invalid input detected at '^' marker.\n"
    with pytest.raises(PermanentError, match="Invalid input") as caught:
        CiscoIosDriver(Session(error), "core-btm-01").get_gateway(110)  # type: ignore[arg-type]
    assert "hostname" not in str(caught.value)
