"""Steps: plain typed functions registered by name; they join the engine to the integrations.

Importing this package registers every step (the registry is checked when playbooks load).
"""

from agent.steps import (  # noqa: F401
    acts,
    backup,
    bandwidth,
    capacity,
    connection,
    connection_build,
    delivery,
    dns,
    forms,
    gateway,
    handover,
    ipam,
    maintenance,
    maintenance_checks,
    monitoring,
    placement,
    reports,
    request,
    restore,
    shipping,
    switchport,
    verify,
    withdrawal,
)
