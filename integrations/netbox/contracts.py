"""Objects dcagent's contract with NetBox needs (bootstrap): created or adopted, never deleted."""

from __future__ import annotations

from typing import Any

from integrations.netbox.base import (
    _same,
)
from integrations.netbox.core import NetBoxCore


class ContractObjects(NetBoxCore):
    """Tags, custom fields, event rules and webhooks created by bootstrap."""

    # -- contract objects (bootstrap): created or adopted, never deleted ------------------------------
    def ensure(self, app: str, endpoint: str, lookup: dict[str, Any], fields: dict[str, Any]) -> tuple[int, str]:
        """Create the object if missing, else update the ``fields`` that differ. Returns (id, what happened).

        What happened is ``created``, ``updated: a, b`` or ``unchanged``; fields not named are left as users set
        them.
        """
        ep = getattr(getattr(self._api, app), endpoint)

        def run() -> tuple[int, str]:
            obj = ep.get(**lookup)
            if obj is None:
                created = ep.create({**lookup, **fields})
                return int(created.id), "created"
            current = dict(obj)  # raw values: serialize() drops JSON fields such as conditions
            changed = {k: v for k, v in fields.items() if not _same(current.get(k), v)}
            if changed:
                obj.update(changed)
                return int(obj.id), "updated: " + ", ".join(sorted(changed))
            return int(obj.id), "unchanged"

        return self._do(f"ensure {app}.{endpoint} {lookup}", run)
