"""The verification template: a one-packet ICMP check every second, linked to a new host only while dcagent proves
Zabbix reaches it, then unlinked and cleared (its item and history go with it).

Why (docs/decisions/0015): a check-now task waits for the server's task manager (every 5 s) and a sleeping pinger,
then three packets a second apart: 2.6-10.8 s measured on the lab. An item already scheduled every second answers
within about two seconds of the network being ready, with no task at all."""

from __future__ import annotations

from typing import Any

VERIFY_TEMPLATE = "dcagent ICMP verification"  # the default name (setting zabbix.verification_template)
VERIFY_KEY = "icmpping[,1]"  # one packet: "reachable" needs one answer, and fping returns at once
VERIFY_ITEM = {
    "name": "dcagent: ICMP verifikasi (sementara)", "key_": VERIFY_KEY, "type": 3, "value_type": 3, "delay": "1s",
    "history": "1d", "trends": "0",
    "description": "Linked by dcagent while it verifies a new host; unlinked and cleared after.",
}  # fmt: skip
TEMPLATE_GROUP = "Templates/dcagent"


class VerificationWrites:
    """The template kept by ``dcagent bootstrap``; its use by the steps. ``call`` is the client's one API call."""

    def call(self, method: str, params: dict[str, Any] | list[Any]) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    def version_at_least(self, version: str) -> bool:  # pragma: no cover - the client's
        raise NotImplementedError

    def ensure_verification_template(self, name: str = VERIFY_TEMPLATE) -> tuple[str, str]:
        """(template id, created | updated | unchanged): the template and its one item as dcagent wants them."""
        found = self.call("template.get", {"filter": {"host": [name]}, "output": ["templateid"],
                                           "selectItems": ["itemid", "key_", "delay", "type"]})  # fmt: skip
        if not found:
            template_id = str(
                self.call(
                    "template.create",
                    {
                        "host": name,
                        "groups": [{"groupid": self._template_group()}],
                        "description": VERIFY_ITEM["description"],
                    },
                )["templateids"][0]
            )
            self.call("item.create", {"hostid": template_id, **VERIFY_ITEM})
            return template_id, "created"
        template_id = str(found[0]["templateid"])
        item = next((i for i in found[0].get("items") or [] if i["key_"] == VERIFY_KEY), None)
        if item is None:
            self.call("item.create", {"hostid": template_id, **VERIFY_ITEM})
            return template_id, "updated"
        if str(item["delay"]) != VERIFY_ITEM["delay"] or str(item["type"]) != str(VERIFY_ITEM["type"]):
            self.call("item.update", {"itemid": item["itemid"], "delay": VERIFY_ITEM["delay"],
                                      "type": VERIFY_ITEM["type"]})  # fmt: skip
            return template_id, "updated"
        return template_id, "unchanged"

    def _template_group(self) -> str:
        # Zabbix 6.2 gave templates their own groups; 6.0 puts them in host groups.
        kind = "templategroup" if self.version_at_least("6.2") else "hostgroup"
        found = self.call(f"{kind}.get", {"filter": {"name": [TEMPLATE_GROUP]}, "output": ["groupid"]})
        if found:
            return str(found[0]["groupid"])
        return str(self.call(f"{kind}.create", {"name": TEMPLATE_GROUP})["groupids"][0])

    def item_stamps(self, host_id: str, keys: list[str]) -> dict[str, tuple[str, float, str]]:
        """key → (itemid, time of the last value in seconds with its nanoseconds, last value) for the host's items
        among ``keys``; 0.0 for an item with no value yet."""
        found = self.call("item.get", {"hostids": [host_id], "filter": {"key_": keys},
                                       "output": ["itemid", "key_", "lastclock", "lastns", "lastvalue"]})  # fmt: skip
        return {str(i["key_"]): (str(i["itemid"]), int(i["lastclock"] or 0) + int(i.get("lastns") or 0) / 1e9,
                                 str(i["lastvalue"])) for i in found}  # fmt: skip

    def unlink_templates(self, host_id: str, template_ids: list[str]) -> None:
        """Unlink the templates from the host and clear what they brought (items, triggers, their history)."""
        self.call("host.update", {"hostid": host_id, "templates_clear": [{"templateid": t} for t in template_ids]})
