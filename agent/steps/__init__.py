"""Steps: plain typed functions registered by name; they join the engine to the integrations.

One module per playbook concern, named after its steps (``dcagent steps`` lists each step with its module and
line). Importing this package registers every step (the registry is checked when playbooks load).
"""

from agent.steps import (  # noqa: F401
    acts,
    backup,
    backup_job,
    backup_stop,
    bandwidth,
    capacity,
    connection,
    delivery,
    dns,
    forms,
    gateway,
    handover,
    ipam,
    maintenance,
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
