"""Steps' params models: what a playbook may pass a step (``params:``), checked when it loads. A typo or a value
of the wrong kind fails the load with file:line instead of being silently ignored mid-run. The validated model is
what the step receives (``fn(ctx, params: Model)``): each default is written here, once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from agent.engine.registry import NoParams as NoParams
from agent.engine.registry import StepParams

SLUG = r"^[a-z0-9][a-z0-9_-]{0,99}$"

Params = StepParams  # the base of every step's params model: unknown keys refused, frozen


class ReplyLetter(Params):
    subject: Literal["colocation", "maintenance", "withdrawal", "new_network", "bandwidth"] = Field(
        "colocation", description="what the request asked for: the letter's title (doc.letter_title.<subject>)"
    )


class ValidateRequest(Params):
    required_fields: list[str] = Field(default_factory=list, description="custom fields the SOP's form requires")
    require_tenant: bool = False
    check_name: bool = Field(
        True,
        description="a device's name must pass the rule every system it reaches shares (agent.domain.names); off "
        "where the run gives the name to no system (a withdrawal must still retire a device named before the rule)",
    )


class CheckCapacity(Params):
    rack_order: list[str] = Field(
        default_factory=list,
        description="rack names in the order the office fills them, tried after the request's own rack; racks not "
        "named follow by name (every rack of the site is tried)",
    )


class CapacityFrom(Params):
    capacity_from: str = Field("check_capacity", description="the step whose placement is used")


class AddressFrom(Params):
    address_from: str = Field("reserve_ip", description="the step whose reserved address is published")


VERIFY_DEADLINE = 600  # seconds: the verify_monitoring step's own deadline per look
VERIFY_WAIT_MAX = 480  # the longest wait for Zabbix that leaves the finding two minutes


class VerifyMonitoring(Params):
    timeout: float = Field(240, gt=0, le=3600, description="seconds to wait for Zabbix to reach the host")
    host_from: str = Field("register_zabbix", description="the step that registered the host")
    on_failure: Literal["fail", "wait_for_retry"] = Field(
        "wait_for_retry",
        description="no answer within the timeout: fail the run (undone), or journal a finding from the switch and "
        "wait for a technician to ask a retry (SOP 003.11: reconfigure when there is a problem)",
    )
    retry_tag: str = Field("retry-verification", pattern=SLUG, description="the tag that asks a retry")
    retry_group: str = Field(
        "teknisi", min_length=1, max_length=150, description="NetBox user group whose members may ask a retry"
    )
    poll_seconds: float = Field(60, ge=5, le=3600, description="how often a waiting verification looks for the tag")

    @model_validator(mode="after")
    def _time_to_read_the_switch(self) -> VerifyMonitoring:
        # The step's deadline (agent.steps.monitoring: VERIFY_DEADLINE) covers the wait for Zabbix and, after it, the
        # finding read from the switch: a wait that leaves less than two minutes for that would fail the run.
        if self.on_failure == "wait_for_retry" and self.timeout > VERIFY_WAIT_MAX:
            raise ValueError(f"timeout {self.timeout:g} s leaves no time to read the switch for a finding "
                             f"(at most {VERIFY_WAIT_MAX} s with on_failure: wait_for_retry)")  # fmt: skip
        return self


class ApprovalForm(Params):
    noc: str | None = Field(None, max_length=200, description="the office's NOC, as the form names it")
    approval_tag: str = Field("approved", pattern=SLUG)


class ConfirmPlan(Params):
    on_change: Literal["continue", "reject"] = "continue"


class Restore(Params):
    delete_extraneous: bool = True


class VerifySnapshot(Params):
    read_data_subset: str | None = Field(None, pattern=r"^(\d{1,3}(\.\d+)?%|\d+/\d+|\d+[KMGT]?)$")


class MaintenanceWindow(Params):
    max_hours: float = Field(72, gt=0, le=24 * 31, description="the longest window the office allows")


class BeginMaintenance(Params):
    confirm_timeout: float = Field(
        180, gt=0, le=1800, description="seconds for Zabbix to report the host in maintenance (its timer's tick)"
    )
    window_status: str = Field(
        "maintenance",
        pattern=SLUG,
        description="device status during the window: NetBox ships no 'maintenance'; add it with FIELD_CHOICES "
        "(README) or use e.g. offline",
    )


class VerifyServer(Params):
    on_mismatch: Literal["reject", "report"] = Field(
        "reject", description="a difference between NetBox and the systems rejects the request, or goes in the report"
    )
    ping: bool = Field(True, description="the primary IP must answer ICMP echo")


class RetireZabbix(Params):
    mode: Literal["disable", "delete"] = Field("disable", description="disabled keeps the host's history")


class RetireDevice(Params):
    status: Literal["offline", "decommissioning"] = Field("offline", description="the device's status once out")


class HandOff(Params):
    outcome_tag: str = Field("perlu-penarikan", pattern=SLUG, description="the team's tag: the device must leave")
    withdrawal_tag: str = Field("sop-withdrawal", pattern=SLUG, description="the withdrawal playbook's request tag")


class CheckConnection(Params):
    containers: dict[str, str] = Field(
        description="connection type (the circuit type's slug) → the role slug of the site's container prefix"
    )
    vlan_group: str = Field(pattern=SLUG, description="the VLAN group agencies' VLANs come from")
    switch: str = Field(min_length=1, max_length=64, description="the switch agencies' links land on")
    uplink_port: str = Field(min_length=1, max_length=32, description="its trunk towards the core")
    max_hosts: int = Field(1022, ge=1, le=65533, description="the most addresses one request may ask for")
    reserved_vlans: list[Annotated[int, Field(ge=1, le=4094)]] = Field(
        default_factory=list,
        description="VLAN ids of the group never given to an agency (the office's own: management, voice, …); "
        "VLAN 1 always is",
    )


class AwaitDelivery(Params):
    tag: str = Field(
        "delivered", pattern=SLUG, description="the tag a technician adds to the device once the server is in"
    )
    group: str = Field(
        "teknisi", min_length=1, max_length=150, description="the NetBox user group whose members record deliveries"
    )
    poll_seconds: float = Field(60, ge=5, le=3600, description="how often NetBox is read while the server is awaited")


class AwaitRecord(Params):
    tag: str = Field(pattern=SLUG, description="the tag a member of the group adds once the act is done")
    group: str = Field(
        "teknisi", min_length=1, max_length=150, description="the NetBox user group whose members record the act"
    )
    what: str = Field(
        min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the act for people, one line (shown in the waiting text and the journal): e.g. SOP 003.10's "
        "list, OS, driver, software, networking, load balancing, security",
    )  # fmt: skip
    poll_seconds: float = Field(60, ge=5, le=3600, description="how often NetBox is read while the act is awaited")


# -- backup and restore (SOP 004) ----------------------------------------------------------------------------------


class VerifyRepository(Params):
    read_data: bool = Field(
        False,
        description="read back a data subset on every run (a first backup), not only on the device's verification day",
    )


class StopBackup(Params):
    allow_missing: bool = Field(
        True, description="a device without a backup schedule is stopped all the same (else the step fails)"
    )
