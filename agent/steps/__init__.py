"""Steps: plain typed functions registered by name; they join the engine to the integrations.

Importing this package registers every step (the registry is checked when playbooks load).
"""

from agent.steps import capacity, dns, ipam, monitoring, placement, reports, request, switchport  # noqa: F401
