"""The NetBox adapter, split by concern (issue 13): models and helpers (base), the call core, request objects and
their journal, IPAM, capacity reads, step writes, bootstrap objects, switches. ``NetBoxClient`` is all of them."""

from __future__ import annotations

from integrations.netbox.base import (
    ALIASES,
    DRAW_FIELDS,
    FEED_FIELDS,
    MIN_VERSION,
    MOUNT_FIELDS,
    OBJECT_TYPES,
    PAGE,
    RACK_FIELDS,
    SYSTEM,
    Approval,
    DeviceSpec,
    DeviceTypeFacts,
    Expiring,
    FeedInfo,
    InterfaceRef,
    InventoryItem,
    IPRef,
    JournalEntry,
    NetBoxStatus,
    NetBoxUser,
    Occupant,
    PanelInfo,
    PortRef,
    PrefixRef,
    RackInfo,
    RequestHistory,
    RequestObject,
    SitePower,
    SwitchRef,
    Tag,
    TokenRights,
    canonical_type,
)
from integrations.netbox.capacity import CapacityReads
from integrations.netbox.connections import Connections, ConnectionSpec, VlanRef
from integrations.netbox.contracts import ContractObjects
from integrations.netbox.gateways import GatewayRef, Gateways
from integrations.netbox.graph import Grant, SiteCapacity, SiteGraph
from integrations.netbox.inventory import InventoryReads, MonitoredObject
from integrations.netbox.objects import RequestObjects
from integrations.netbox.writes import StepWrites

__all__ = [
    "ALIASES",
    "DRAW_FIELDS",
    "FEED_FIELDS",
    "MIN_VERSION",
    "MOUNT_FIELDS",
    "OBJECT_TYPES",
    "PAGE",
    "RACK_FIELDS",
    "SYSTEM",
    "Approval",
    "ConnectionSpec",
    "DeviceSpec",
    "DeviceTypeFacts",
    "Expiring",
    "FeedInfo",
    "GatewayRef",
    "Grant",
    "IPRef",
    "InterfaceRef",
    "InventoryItem",
    "JournalEntry",
    "MonitoredObject",
    "NetBoxClient",
    "NetBoxStatus",
    "NetBoxUser",
    "Occupant",
    "PanelInfo",
    "PortRef",
    "PrefixRef",
    "RackInfo",
    "RequestHistory",
    "RequestObject",
    "SiteCapacity",
    "SitePower",
    "SwitchRef",
    "Tag",
    "TokenRights",
    "VlanRef",
    "canonical_type",
]


class NetBoxClient(
    RequestObjects, CapacityReads, SiteGraph, StepWrites, ContractObjects, Connections, InventoryReads, Gateways
):
    """The only door to NetBox. ``token`` is ``nbt_<key>.<token>`` (v2) or a legacy v1 token."""
