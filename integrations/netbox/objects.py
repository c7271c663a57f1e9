"""Request objects, their tags, journal and changelog (who added a tag, when)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from integrations.errors import AuthError, IntegrationError, PermanentError
from integrations.netbox.base import (
    PAGE,
    SYSTEM,
    Approval,
    Expiring,
    JournalEntry,
    NetBoxUser,
    RequestHistory,
    RequestObject,
    Tag,
    _endpoint,
    _request_object,
    _tag_names,
    canonical_type,
)
from integrations.netbox.core import NetBoxCore


class RequestObjects(NetBoxCore):
    """Tags, request objects, journal entries and the changelog."""

    # -- tags -----------------------------------------------------------------------------------------
    def ensure_tag(self, slug: str, name: str, color: str = "9e9e9e", description: str = "") -> Tag:
        def run() -> Any:
            tag = self._api.extras.tags.get(slug=slug)
            if tag is None:
                tag = self._api.extras.tags.create(slug=slug, name=name, color=color, description=description)
            return tag

        tag = self._do(f"ensure tag {slug}", run)
        return Tag(id=int(tag.id), slug=str(tag.slug), name=str(tag.name))

    def delete_tag(self, slug: str) -> bool:
        def run() -> bool:
            tag = self._api.extras.tags.get(slug=slug)
            return bool(tag.delete()) if tag is not None else False

        return self._do(f"delete tag {slug}", run)

    # -- request objects, journal, changelog -----------------------------------------------------------
    def get_object(self, object_type: str, key: int | str) -> RequestObject:
        """The object ``dcim.device:42`` or ``device:srv-disdik-01`` (by name; a circuit by its cid)."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)

        def run() -> Any:
            if isinstance(key, int) or str(key).isdigit():
                return endpoint.get(int(key))
            if otype == "circuits.circuit":  # a circuit is named by its circuit id
                return endpoint.get(cid=str(key))
            return endpoint.get(name=str(key))

        obj = self._do(f"get {otype} {key}", run)
        if obj is None:
            raise PermanentError(SYSTEM, f"{otype} {key} does not exist")
        return _request_object(otype, obj)

    def objects_with_tags(self, object_type: str, tags: list[str]) -> list[RequestObject]:
        """Objects carrying every tag in ``tags`` (NetBox ANDs repeated ``tag`` filters)."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)
        found = self._do(f"list {otype} tagged {'+'.join(tags)}", lambda: list(endpoint.filter(limit=PAGE, tag=tags)))
        return [_request_object(otype, o) for o in found if set(tags) <= {t.slug for t in o.tags}]

    def journal(self, object_type: str, object_id: int) -> list[JournalEntry]:
        otype = canonical_type(object_type)
        rows = self._do(
            "list journal",
            lambda: list(
                self._api.extras.journal_entries.filter(
                    limit=PAGE, assigned_object_type=otype, assigned_object_id=object_id
                )
            ),
        )
        return [JournalEntry(id=int(r.id), kind=str(r.kind.value if hasattr(r.kind, "value") else r.kind),
                             comments=str(r.comments)) for r in rows]  # fmt: skip

    def add_journal(self, object_type: str, object_id: int, kind: str, comments: str) -> JournalEntry:
        otype = canonical_type(object_type)
        row = self._do(
            "write journal",
            lambda: self._api.extras.journal_entries.create(
                assigned_object_type=otype, assigned_object_id=object_id, kind=kind, comments=comments
            ),
        )
        return JournalEntry(id=int(row.id), kind=kind, comments=comments)

    def change_tags(
        self, object_type: str, object_id: int, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """Add/remove tags by slug, leaving every other tag as it is; return the resulting slugs.

        One PATCH with ``add_tags``/``remove_tags`` (NetBox 4.6+ applies them atomically: no read, and no tag a
        person adds meanwhile is lost). An older NetBox ignores those fields, and one refuses a slug that names no
        tag: then the tags are read, merged and written whole, as before."""
        otype = canonical_type(object_type)
        endpoint = _endpoint(self._api, otype)
        if not add and not remove:
            return self._do(f"tag {otype} {object_id}", lambda: _merge_tags(endpoint, otype, object_id, (), ()))
        fields: dict[str, Any] = {}
        if add:
            fields["add_tags"] = [{"slug": s} for s in add]
        if remove:
            fields["remove_tags"] = [{"slug": s} for s in remove]
        try:
            rows = self._do(f"tag {otype} {object_id}", lambda: endpoint.update([{"id": object_id, **fields}]))
        except IntegrationError as e:  # a slug naming no tag (NetBox 4.7 answers 500): the merge drops it
            if isinstance(e, AuthError):
                raise
            rows = []
        now = tuple(str(t.slug) for t in rows[0].tags) if rows else None
        if now is not None and set(add) <= set(now) and not set(remove) & set(now):
            return now
        return self._do(f"tag {otype} {object_id}", lambda: _merge_tags(endpoint, otype, object_id, add, remove))

    def request_history(self, object_type: str, object_id: int) -> RequestHistory:
        """Who added each tag the object has carried, and when (per tag, the latest changelog entry where it
        appeared), and who created the object: one changelog read for a whole chain of decisions. A decision's
        maker is checked against both (whoever created the device filed the request as much as whoever tagged it)."""
        otype = canonical_type(object_type)

        def run() -> list[Any]:
            return list(
                self._api.core.object_changes.filter(
                    limit=PAGE, changed_object_type=otype, changed_object_id=object_id, ordering="-time"
                )
            )

        found: dict[str, Approval] = {}
        created: Approval | None = None
        for change in self._do("read changelog", run):
            after = _tag_names((change.postchange_data or {}).get("tags"))
            before = _tag_names((change.prechange_data or {}).get("tags"))
            for tag in after - before:
                found.setdefault(tag, Approval(username=str(change.user_name), time=str(change.time)))
            if created is None and _action(change.action) == "create":
                created = Approval(username=str(change.user_name), time=str(change.time))
        return RequestHistory(additions=found, created=created)

    def tag_added(self, object_type: str, object_id: int, tag: str) -> Approval | None:
        """Who added ``tag`` to the object, and when: the latest changelog entry where it appeared."""
        return self.request_history(object_type, object_id).additions.get(tag)

    def user_groups(self, username: str) -> frozenset[str]:
        """The names of the NetBox user groups ``username`` belongs to (none for an unknown user)."""
        return self.users([username])[username].groups

    def user_names(self, usernames: Sequence[str]) -> dict[str, str]:
        """Each user's full name as NetBox holds it, in one read (documents name their signatories)."""
        return {n: u.full_name for n, u in self.users(usernames).items()}

    def users(self, usernames: Sequence[str]) -> dict[str, NetBoxUser]:
        """Each user's groups and full name, in one read; an unknown user has no group and its username as name."""
        names = sorted({u for u in usernames if u})
        if not names:
            return {}
        rows = self._do("read users", lambda: list(self._api.users.users.filter(limit=PAGE, username=names)))
        found = {
            str(r.username): NetBoxUser(
                username=str(r.username),
                full_name=" ".join(p for p in (str(r.first_name or ""), str(r.last_name or "")) if p)
                or str(r.username),
                groups=frozenset(str(g.name if hasattr(g, "name") else g["name"]) for g in (r.groups or [])),
            )
            for r in rows
        }
        return {n: found.get(n) or NetBoxUser(username=n, full_name=n, groups=frozenset()) for n in names}

    # -- temporary colocations ------------------------------------------------------------------------
    def devices_ending_by(self, day: date) -> list[Expiring]:
        """Devices in service whose colocation ends on or before ``day`` (custom field dcagent_colocation_end)."""
        rows = self._do("find colocations ending", lambda: list(self._api.dcim.devices.filter(
            limit=PAGE, status="active", cf_dcagent_colocation_end__lte=day.isoformat())))  # fmt: skip
        found = []
        for r in rows:
            end = (r.custom_fields or {}).get("dcagent_colocation_end")
            if end:
                found.append(Expiring(id=int(r.id), name=str(r.name), end=date.fromisoformat(str(end)[:10]),
                                      tenant_id=int(r.tenant.id) if r.tenant else None,
                                      tenant=str(r.tenant.name) if r.tenant else None,
                                      tags=tuple(str(t.slug) for t in r.tags)))  # fmt: skip
        return found

    # -- contacts -------------------------------------------------------------------------------------
    def contact_emails(self, object_type: str, object_id: int, role: str) -> list[tuple[str, str]]:
        """(name, e-mail) of the object's contacts assigned with role ``role`` (slug), in NetBox's order; contacts
        without an address are left out. Two reads: the assignments, then their contacts."""
        rows = self._do("read contact assignments", lambda: list(self._api.tenancy.contact_assignments.filter(
            limit=PAGE, object_type=object_type, object_id=object_id, role=role)))  # fmt: skip
        ids = [int(r.contact.id) for r in rows if r.contact is not None]
        if not ids:
            return []
        found = self._do("read contacts", lambda: list(self._api.tenancy.contacts.filter(limit=PAGE, id=ids)))
        by_id = {int(c.id): (str(c.name), str(c.email or "")) for c in found}
        return [by_id[i] for i in ids if i in by_id and by_id[i][1]]


def _merge_tags(
    endpoint: Any, otype: str, object_id: int, add: Sequence[str], remove: Sequence[str]
) -> tuple[str, ...]:
    """Read the tags, merge, write them whole if they change (NetBox before 4.6)."""
    obj = endpoint.get(object_id)
    if obj is None:
        raise PermanentError(SYSTEM, f"{otype} {object_id} does not exist")
    current = [str(t.slug) for t in obj.tags]
    wanted = [s for s in current if s not in remove] + [s for s in add if s not in current]
    if wanted != current:
        obj.update({"tags": [{"slug": s} for s in wanted]})
    return tuple(wanted)


def _action(action: Any) -> str:
    """A changelog entry's action ("create", "update", "delete"): NetBox answers ``{"value": ..., "label": ...}``,
    which pynetbox may hand over as a record, a dict or the bare value."""
    if isinstance(action, dict):
        return str(action.get("value"))
    return str(getattr(action, "value", action))
