"""Every state change of customers, contacts, follow-ups and their satellites.

One function each, keyword-only, acting user first, transactional, writing the activity
log. Batch services are all-or-nothing: one invisible or forbidden row refuses the batch.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity, participants
from crm.exceptions import NotVisibleError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, OptionKind, User
from crm.phones import normalize_phone
from crm.services import notification_send, require_same_tenant
from crm.visibility import get_visible_or_404, visible_to
from customers import activity_actions as actions
from customers import hooks, owned, policies
from customers.events import EMPTY, attr_events, attr_events_write, attr_values, followups_recount
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    CustomerTag,
    CustomerUserObjectPermission,
    FollowUp,
    FollowUpComment,
    OwnershipEvent,
    PoolReason,
    SavedSearch,
    Tag,
    normalize_name,
)
from customers.selectors import followup_record_for_actor
from pools import services as pool_services
from pools.subjects import subject_for

CUSTOMER_FIELDS = [
    "name",
    "legal_representative",
    "credit_code",
    "bank_name",
    "bank_account",
    "industry",
    "products",
    "raw_materials",
    "province",
    "city",
    "district",
    "address",
    "longitude",
    "latitude",
    "level",
    "source",
    "status",
    "referrer",
    "remark",
    "visibility",
    "next_followup_at",
]
OPTION_FIELDS = {
    "industry": OptionKind.INDUSTRY,
    "level": OptionKind.CUSTOMER_LEVEL,
    "source": OptionKind.CUSTOMER_SOURCE,
    "status": OptionKind.CUSTOMER_STATUS,
}
CONTACT_FIELDS = [
    "name",
    "mobile",
    "phone",
    "email",
    "title",
    "gender",
    "is_decision_maker",
    "birthday",
    "role",
    "remark",
]

MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
MAX_ATTACHMENTS_PER_CUSTOMER = 10
ALLOWED_EXTENSIONS = {
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".csv",
    ".ppt",
    ".pptx",
    ".txt",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".webp",
    ".bmp",
    ".zip",
    ".rar",
    ".7z",
    ".mp3",
    ".mp4",
    ".wav",
}


class DuplicateCustomerError(ServiceError):
    """Customers with the same normalised name or a contact phone already exist."""

    def __init__(self, matches: list[Customer]):
        # SECURITY (issue 15): the message names no match: the form lists them as the actor
        # may see them (customers.selectors.duplicate_rows: "exists, owned by …" otherwise).
        super().__init__(
            _("Possible duplicates already exist (listed above). Check them, or save anyway."),
            code="duplicate",
        )
        self.matches = matches


# ---------------------------------------------------------------- shared checks


def _refuse(message: str, code: str) -> None:
    raise ServiceError(message, code=code)


# The rules of one customer live in customers.policies; these names stay for their callers.
customer_can_edit = policies.may_edit
can_follow_up = policies.may_follow_up
can_comment = policies.may_comment


def _visible_batch(actor: User, customers: Sequence[Customer | int], *, deleted=False):
    """The customers of a batch, refused as a whole when any is missing or invisible."""
    ids = [c.pk if isinstance(c, Customer) else int(c) for c in customers]
    if not ids:
        _refuse(_("Select at least one customer."), "empty")
    base = Customer.objects.in_bin() if deleted else Customer.objects.alive()
    found = list(
        visible_to(actor, base.filter(pk__in=ids)).select_for_update(of=("self",)).order_by("pk")
    )
    if len(found) != len(set(ids)):
        missing = len(set(ids)) - len(found)
        _refuse(
            ngettext(
                "%(count)d selected customer does not exist or is not visible to you; "
                "nothing was changed.",
                "%(count)d selected customers do not exist or are not visible to you; "
                "nothing was changed.",
                missing,
            )
            % {"count": missing},
            "not_visible",
        )
    return found


def _editable_batch(actor: User, customers, *, deleted=False) -> list[Customer]:
    found = _visible_batch(actor, customers, deleted=deleted)
    forbidden = [c.name for c in found if not policies.may_edit(actor, c, in_bin=deleted)]
    if forbidden:
        _refuse(
            _(
                "You may not change these customers (locked or read-only): %(names)s. "
                "Nothing was changed."
            )
            % {"names": "、".join(forbidden[:10])},
            "not_editable",
        )
    return found


def _check_options(actor: User, data: dict) -> None:
    for field, kind in OPTION_FIELDS.items():
        option = data.get(field)
        if option is not None:
            require_same_tenant(actor, option)
            if option.kind != kind:
                _refuse(_("Choose a valid option."), "option")
    require_same_tenant(actor, data.get("referrer"))


def duplicates_for(
    *, tenant_id: int, name: str = "", phones: Iterable[str] = (), exclude_pk: int | None = None
):
    """Customers of the tenant (pool included, recycle bin excluded) with the same
    normalised name or with a contact whose mobile or phone matches."""
    condition = Q()
    normalized = normalize_name(name)
    if normalized:
        condition |= Q(name_normalized=normalized)
    numbers = {p for p in phones if p}
    if numbers:
        contact_ids = (
            Contact.objects.filter(tenant_id=tenant_id)
            .filter(Q(mobile__in=numbers) | Q(phone__in=numbers))
            .values("customer_id")
        )
        condition |= Q(pk__in=contact_ids)
    if not condition:
        return Customer.objects.none()
    qs = Customer.objects.alive().filter(condition, tenant_id=tenant_id)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.select_related("owner").order_by("pk")


def _clean_phone(value: str) -> str:
    if not value:
        return ""
    try:
        return normalize_phone(value)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], code="invalid_phone") from exc


def _record(actor, target, action, changes=None, note=""):
    return activity.activity_record(
        actor=actor, target=target, action=action, changes=changes, note=note
    )


# ---------------------------------------------------------------- ownership


def ownership_columns(
    *, actor: User | None, to_user: User | None, fields: dict | None, now: datetime.datetime
) -> dict:
    """The columns an owner change of customers or leads sets in one UPDATE: the owner and,
    when there is one, out of the pool with the ownership clock started; then ``fields``."""
    update = {"owner": to_user, "updated_at": now, "updated_by": actor}
    if to_user is not None:
        update.update(
            owned_since=now, pooled_at=None, pool_reason="", pool_reason_days=None, pool_note=""
        )
    update.update(fields or {})
    return update


def ownership_columns_set(records, update: dict) -> None:
    """Set the UPDATE's columns on the records in memory too (an ``F("owner")`` value, as
    the pool's previous owner, is the record's old owner)."""
    for record in records:
        previous_owner_id = record.owner_id
        for key, value in update.items():
            if hasattr(value, "resolve_expression"):  # F("owner"): the old owner
                setattr(record, f"{key}_id", previous_owner_id)
            else:
                setattr(record, key, value)


def ownership_change(
    *,
    actor: User | None,
    customers: Sequence[Customer],
    to_user: User | None,
    kind: str,
    note: str = "",
    group=None,
    fields: dict | None = None,
    notify: bool = True,
) -> list[OwnershipEvent]:
    """The one place a customer's owner changes: sets the owner, writes an ownership event
    per customer (with the pool ``group`` involved, if any) and notifies the new owner once
    for the batch. Callers check rights and lock the rows, and before them the receiving
    user (``pools.services.lock_users``) when a holding limit counts what it receives.

    Giving a customer an owner takes it out of the pool and starts its ownership clock
    (``owned_since``: recycling counts from there). ``fields`` are further columns set in
    the same UPDATE (the pools app puts customers into the pool with it)."""
    if to_user is not None and not to_user.is_active:
        _refuse(_("A deactivated user cannot receive customers."), "inactive")
    now = timezone.now()
    update = ownership_columns(actor=actor, to_user=to_user, fields=fields, now=now)
    events = []
    for customer in customers:
        events.append(
            OwnershipEvent(
                tenant_id=customer.tenant_id,
                customer=customer,
                kind=kind,
                from_user_id=customer.owner_id,
                to_user=to_user,
                actor=actor,
                note=note[:500],
                pool_group=group,
                lifecycle=customer.lifecycle,
                created_at=now,
            )
        )
    if customers:
        Customer.objects.filter(pk__in=[c.pk for c in customers]).update(**update)
        OwnershipEvent.objects.bulk_create(events)
        ownership_columns_set(customers, update)
    if (
        notify
        and to_user is not None
        and actor is not None
        and to_user.pk != actor.pk
        and customers
    ):
        names = "、".join(c.name for c in customers[:5])
        notification_send(
            tenant_id=to_user.tenant_id,
            recipients=[to_user],
            title=ngettext(
                "%(count)d customer is now yours: %(names)s",
                "%(count)d customers are now yours: %(names)s",
                len(customers),
            )
            % {"count": len(customers), "names": names},
            link=f"/customers/{customers[0].pk}/" if len(customers) == 1 else "/customers/",
        )
    return events


# ---------------------------------------------------------------- customers


@transaction.atomic
def customer_create(
    *,
    actor: User,
    data: dict,
    contact_name: str = "",
    contact_phone: str = "",
    tags: Iterable[Tag] = (),
    owner: User | bool | None = True,
    confirm_duplicates: bool = False,
    pool_group=None,
    event_kind: str = OwnershipEvent.Kind.CREATED,
    check_owner_right: bool = True,
) -> Customer:
    """A customer owned by ``owner`` (default: the actor), with its first contact when a
    contact name or phone is given. Duplicates are refused until confirmed.

    It belongs to ``pool_group`` (default: the tenant's default pool group); created
    without an owner it lies in that group's pool, so nothing is ownerless and unpooled.

    ``event_kind`` is the kind of its first ownership event (lead conversion records
    CONVERTED); ``check_owner_right=False`` when the caller already decided who owns it
    (a converted lead's customer goes to the lead's owner, by the lead.convert right)."""
    name = (data.get("name") or "").strip()
    if not name:
        _refuse(_("Enter the customer name."), "required")
    _check_options(actor, data)
    owner_user = actor if owner is True else (owner or None)
    require_same_tenant(actor, owner_user)
    if (
        check_owner_right
        and owner_user is not None
        and owner_user.pk != actor.pk
        and not actor.can("customer.transfer")
    ):
        # Creating a customer for someone else hands it over: the transfer right.
        raise PermissionRefusedError()
    if owner_user is not None and not owner_user.is_active:
        _refuse(_("A deactivated user cannot receive customers."), "inactive")
    phone = _clean_phone(contact_phone)
    contact_name = (contact_name or "").strip()
    if phone and not contact_name:
        _refuse(_("Enter the contact's name for this phone number."), "contact_name")
    if not confirm_duplicates:
        matches = list(duplicates_for(tenant_id=actor.tenant_id, name=name, phones=[phone]))
        if matches:
            raise DuplicateCustomerError(matches)
    from pools.services import default_group_for

    require_same_tenant(actor, pool_group)
    if pool_group is not None and pool_group.kind != pool_group.Kind.CUSTOMER:
        _refuse(_("Choose a pool group of the public pool."), "kind")
    group = pool_group or default_group_for(actor.tenant_id, "customer")
    fields = {k: v for k, v in data.items() if k in CUSTOMER_FIELDS}
    fields["name"] = name
    now = timezone.now()
    if owner_user is None:
        fields.update(pooled_at=now, pool_reason=PoolReason.CREATED)
    customer = Customer.objects.create(
        tenant_id=actor.tenant_id,
        owner=owner_user,
        created_by=actor,
        updated_by=actor,
        pool_group=group,
        owned_since=now if owner_user else None,
        **fields,
    )
    if contact_name:
        contact = Contact(
            tenant_id=actor.tenant_id, customer=customer, name=contact_name, created_by=actor
        )
        if phone.startswith("1"):
            contact.mobile = phone
        else:
            contact.phone = phone
        contact.save()
    added, _removed = _set_tags(customer, tags)
    OwnershipEvent.objects.create(
        tenant_id=actor.tenant_id,
        customer=customer,
        kind=event_kind,
        to_user=owner_user,
        actor=actor,
        pool_group=group if owner_user is None else None,
        lifecycle=customer.lifecycle,
        created_at=now,
    )
    # Its first values count as changes from empty (the R3 increment includes creations).
    attr_events_write(attr_events(customer, EMPTY, added_tags=added, at=now))
    _record(actor, customer, actions.CUSTOMER_CREATED)
    return customer


def _set_tags(customer: Customer, tags: Iterable[Tag]) -> tuple[set[int], set[int]]:
    """Make ``tags`` the customer's tags; returns the tag ids (added, removed)."""
    tags = list(tags)
    for tag in tags:
        if tag.tenant_id != customer.tenant_id:
            _refuse(_("The record does not exist."), "not_found")
    wanted = {t.pk for t in tags}
    existing = set(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))
    removed = existing - wanted
    if removed:
        CustomerTag.objects.filter(customer=customer, tag_id__in=removed).delete()
    added = wanted - existing
    CustomerTag.objects.bulk_create(
        CustomerTag(tenant_id=customer.tenant_id, customer=customer, tag_id=pk)
        for pk in sorted(added)
    )
    return added, removed


@transaction.atomic
def customer_update(
    *,
    actor: User,
    customer: Customer,
    data: dict,
    tags: Iterable[Tag] | None = None,
    confirm_duplicates: bool = False,
) -> Customer:
    require_same_tenant(actor, customer)
    if not policies.may_edit(actor, customer):
        raise PermissionRefusedError(_("This customer is locked or read-only for you."))
    # A name given empty is refused; only a missing "name" key keeps the current one.
    name = (data.get("name", customer.name) or "").strip()
    if not name:
        _refuse(_("Enter the customer name."), "required")
    _check_options(actor, data)
    if not confirm_duplicates and normalize_name(name) != customer.name_normalized:
        matches = list(duplicates_for(tenant_id=actor.tenant_id, name=name, exclude_pk=customer.pk))
        if matches:
            raise DuplicateCustomerError(matches)
    before = activity.snapshot(customer, CUSTOMER_FIELDS)
    before_values = attr_values(customer)
    before_tags = "、".join(t.name for t in customer.tags.order_by("name"))
    for key, value in data.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    customer.name = name
    customer.updated_by = actor
    customer.save()
    changes = activity.diff(before, activity.snapshot(customer, CUSTOMER_FIELDS))
    added = removed = ()
    if tags is not None:
        added, removed = _set_tags(customer, tags)
        after_tags = "、".join(t.name for t in customer.tags.order_by("name"))
        if after_tags != before_tags:
            changes["tags"] = [before_tags, after_tags]
    attr_events_write(attr_events(customer, before_values, added_tags=added, removed_tags=removed))
    if changes:
        _record(actor, customer, actions.CUSTOMER_UPDATED, changes)
    return customer


@transaction.atomic
def customer_transfer(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    to_user: User,
    with_related: bool = False,
    note: str = "",
) -> list[Customer]:
    """Give customers to another rep (转移), one or many, all or nothing.

    The holding limits of the customers' pool groups bound the receiver as they bound a
    claim (``pools.services.holding_check_receive``). The receiver's row is locked first,
    then the customers (the pool's lock order), so that a claim racing the transfer counts
    what the transfer gave, and the other way round."""
    if not actor.can("customer.transfer"):
        raise PermissionRefusedError()
    require_same_tenant(actor, to_user)
    pool_services.lock_users(actor.tenant_id, [to_user.pk])
    found = _editable_batch(actor, customers)
    moving = [c for c in found if c.owner_id != to_user.pk]
    pool_services.holding_check_receive(subject=subject_for("customer"), user=to_user, rows=moving)
    previous = {c.pk: c.owner for c in moving}
    ownership_change(
        actor=actor,
        customers=moving,
        to_user=to_user,
        kind=OwnershipEvent.Kind.TRANSFERRED,
        note=note,
    )
    for customer in moving:
        _record(
            actor,
            customer,
            actions.CUSTOMER_TRANSFERRED,
            {"owner": [str(previous[customer.pk] or ""), str(to_user)]},
            note,
        )
    if with_related and moving:
        hooks.transfer_related(actor=actor, customers=moving, to_user=to_user)
    return found


@transaction.atomic
def customer_participants_add(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    users: Iterable[User],
    can_edit: bool = False,
) -> None:
    """Add team members (我参与的); with ``can_edit`` they also get the django-guardian
    grant ``customers.change_customer`` on each customer."""
    users = list(users)
    if not users:
        _refuse(_("Choose at least one person."), "empty")
    for user in users:
        require_same_tenant(actor, user)
        if not user.is_active:
            _refuse(_("A deactivated user cannot join a customer's team."), "inactive")
    found = _editable_batch(actor, customers)  # locked: two adds of one team take turns
    for customer in found:
        # The rows and the grant, as for every owned record (crm.participants). Adding who
        # is already there as they are (a double submit) changes nothing and logs nothing.
        editors = participants.editor_ids(customer)
        added = participants.participants_add(
            actor=actor, record=customer, users=users, can_edit=can_edit
        )
        if not added and participants.editor_ids(customer) == editors:
            continue
        names = "、".join(str(u) for u in users)
        _record(
            actor,
            customer,
            actions.CUSTOMER_PARTICIPANTS,
            {"participants": ["", names]},
            _("with edit rights") if can_edit else _("read only"),
        )


@transaction.atomic
def customer_participant_remove(*, actor: User, customer: Customer, user: User) -> None:
    [customer] = _editable_batch(actor, [customer])
    participants.participant_remove(record=customer, user=user)
    _record(actor, customer, actions.CUSTOMER_PARTICIPANTS, {"participants": [str(user), ""]})


@transaction.atomic
def customer_star(*, actor: User, customers: Sequence[Customer | int], starred: bool) -> None:
    """Star (星标) is personal: any visible customer, no edit right needed. Idempotent:
    starring a starred customer (a double click, two tabs at once) changes nothing
    (``ON CONFLICT DO NOTHING`` on the unique user/customer pair)."""
    found = _visible_batch(actor, customers)
    if starred:
        have = set(
            CustomerStar.objects.filter(user=actor, customer__in=found).values_list(
                "customer_id", flat=True
            )
        )
        CustomerStar.objects.bulk_create(
            (
                CustomerStar(tenant_id=actor.tenant_id, user=actor, customer=c)
                for c in found
                if c.pk not in have
            ),
            ignore_conflicts=True,
        )
    else:
        CustomerStar.objects.filter(user=actor, customer__in=found).delete()


@transaction.atomic
def customer_tags_change(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    add: Iterable[Tag] = (),
    remove: Iterable[Tag] = (),
) -> None:
    """Add and remove tags on a batch of customers. PERF: set-based: the same queries
    for 5 customers or 500 (links, logs and field-change events each in one statement)."""
    add, remove = list(add), list(remove)
    for tag in add + remove:
        require_same_tenant(actor, tag)
    add_ids, remove_ids = {t.pk for t in add}, {t.pk for t in remove}
    found = _editable_batch(actor, customers)
    current: dict[int, set[int]] = {c.pk: set() for c in found}
    for customer_id, tag_id in CustomerTag.objects.filter(customer__in=found).values_list(
        "customer_id", "tag_id"
    ):
        current[customer_id].add(tag_id)
    changed = []  # (customer, before, after)
    for customer in found:
        before = current[customer.pk]
        after = (before - remove_ids) | add_ids
        if after != before:
            changed.append((customer, before, after))
    if not changed:
        return
    names = dict(
        Tag.objects.filter(pk__in=set().union(*(b | a for _c, b, a in changed))).values_list(
            "pk", "name"
        )
    )
    dropped = [c.pk for c, before, _a in changed if before & remove_ids]
    if dropped:
        CustomerTag.objects.filter(customer_id__in=dropped, tag_id__in=remove_ids).delete()
    CustomerTag.objects.bulk_create(
        [
            CustomerTag(tenant_id=c.tenant_id, customer=c, tag_id=pk)
            for c, before, after in changed
            for pk in sorted(after - before)
        ],
        batch_size=500,
    )
    now = timezone.now()
    attr_events_write(
        [
            event
            for c, before, after in changed
            for event in attr_events(
                c, attr_values(c), added_tags=after - before, removed_tags=before - after, at=now
            )
        ]
    )
    logged = {c.pk: (before, after) for c, before, after in changed}

    def tag_words(ids: set[int]) -> str:
        return "、".join(sorted(names[pk] for pk in ids))

    activity.activity_record_many(
        actor=actor,
        targets=[c for c, _b, _a in changed],
        action=actions.CUSTOMER_TAGGED,
        changes_for=lambda c: {"tags": [tag_words(logged[c.pk][0]), tag_words(logged[c.pk][1])]},
    )


@transaction.atomic
def tag_get_or_create(*, actor: User, name: str) -> Tag:
    name = (name or "").strip()[:30]
    if not name:
        _refuse(_("Enter a tag name."), "required")
    tag, _created = Tag.objects.get_or_create(tenant_id=actor.tenant_id, name=name)
    return tag


@transaction.atomic
def customer_status_set(*, actor: User, customers: Sequence[Customer | int], status) -> None:
    """Set the status of a batch of customers. PERF: set-based: one UPDATE, one INSERT of
    log entries and one of field-change events, whatever the batch size."""
    from crm.models import Option

    _check_options(actor, {"status": status})
    found = _editable_batch(actor, customers)
    new_id = status.pk if status else None
    changing = [c for c in found if c.status_id != new_id]
    if not changing:
        return
    old_ids = {c.status_id for c in changing} - {None}
    labels = {o.pk: str(o) for o in Option.objects.filter(pk__in=old_ids)} if old_ids else {}
    before = {c.pk: (attr_values(c), labels.get(c.status_id, "")) for c in changing}
    now = timezone.now()
    Customer.objects.filter(pk__in=[c.pk for c in changing]).update(
        status=status, updated_by=actor, updated_at=now
    )
    for customer in changing:
        customer.status, customer.updated_by, customer.updated_at = status, actor, now
    attr_events_write(
        [event for c in changing for event in attr_events(c, before[c.pk][0], at=now)]
    )
    activity.activity_record_many(
        actor=actor,
        targets=changing,
        action=actions.CUSTOMER_UPDATED,
        changes_for=lambda c: {"status": [before[c.pk][1], str(status or "")]},
    )


@transaction.atomic
def customer_lock(*, actor: User, customer: Customer, locked: bool) -> Customer:
    """Lock (only owner and edit participants may change it) or unlock; by those same
    people, or by the owner's managers when unlocked."""
    [customer] = _editable_batch(actor, [customer])
    if customer.is_locked != locked:
        customer.is_locked = locked
        customer.save(update_fields=["is_locked", "updated_at"])
        _record(actor, customer, actions.CUSTOMER_LOCKED if locked else actions.CUSTOMER_UNLOCKED)
    return customer


@transaction.atomic
def customer_trash(*, actor: User, customers: Sequence[Customer | int]) -> list[Customer]:
    """Move to the recycle bin (soft delete). Refused as a whole when any customer has
    documents or receivables that must not lose their customer (hooks.register_delete_check)."""
    if not actor.can("customer.delete"):
        raise PermissionRefusedError()
    found = _editable_batch(actor, customers)
    refusals = [f"{c.name}: {'；'.join(r)}" for c in found if (r := hooks.delete_refusals(c))]
    if refusals:
        _refuse(
            _("These customers cannot be deleted: %(reasons)s") % {"reasons": " / ".join(refusals)},
            "protected",
        )
    now = timezone.now()
    for customer in found:
        customer.deleted_at, customer.deleted_by = now, actor
        customer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
        OwnershipEvent.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            kind=OwnershipEvent.Kind.DELETED,
            from_user_id=customer.owner_id,
            actor=actor,
            lifecycle=customer.lifecycle,
        )
        _record(actor, customer, actions.CUSTOMER_TRASHED)
    followups_recount(actor.tenant_id, [c.pk for c in found])
    return found


@transaction.atomic
def customer_restore(*, actor: User, customers: Sequence[Customer | int]) -> list[Customer]:
    if not actor.can("customer.delete"):
        raise PermissionRefusedError()
    found = _editable_batch(actor, customers, deleted=True)
    for customer in found:
        customer.deleted_at, customer.deleted_by = None, None
        customer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
        OwnershipEvent.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            kind=OwnershipEvent.Kind.RESTORED,
            to_user_id=customer.owner_id,
            actor=actor,
            lifecycle=customer.lifecycle,
        )
        _record(actor, customer, actions.CUSTOMER_RESTORED)
    followups_recount(actor.tenant_id, [c.pk for c in found])
    return found


@transaction.atomic
def customer_purge(*, actor: User, customers: Sequence[Customer | int]) -> int:
    """Delete customers in the recycle bin for good (with their contacts, follow-ups…)."""
    if not actor.can("customer.delete"):
        raise PermissionRefusedError()
    found = _editable_batch(actor, customers, deleted=True)
    # All or nothing: every check before the first row goes, and files only go once the
    # rows are gone for good (a refusal or a failure rolls the rows back, not the files).
    refusals = [f"{c.name}: {'；'.join(r)}" for c in found if (r := hooks.delete_refusals(c))]
    if refusals:
        _refuse(
            _("These customers cannot be deleted: %(reasons)s") % {"reasons": " / ".join(refusals)},
            "protected",
        )
    files = []
    for customer in found:
        _record(actor, customer, actions.CUSTOMER_PURGED)
        # A converted lead keeps its history: what is on another record (the lead) stays
        # with that record, only the customer's own rows go with it.
        mine = owned.on(customer)
        FollowUp.objects.filter(customer=customer).exclude(mine).update(customer=None)
        Attachment.objects.filter(customer=customer).exclude(mine).update(customer=None)
        files.extend(attachment.file for attachment in customer.attachments.all())
        customer.delete()
    transaction.on_commit(lambda: [f.delete(save=False) for f in files])
    return len(found)


@transaction.atomic
def customer_merge(*, actor: User, keep: Customer, others: Sequence[Customer | int]) -> Customer:
    """Merge ``others`` into ``keep``: contacts, follow-ups, attachments, participants, tags,
    stars, ownership history and activity log move over; the earliest creation date
    survives; the others are deleted."""
    other_ids = [o.pk if isinstance(o, Customer) else int(o) for o in others]
    if not actor.can("customer.delete"):
        # Merging deletes the other customers.
        raise PermissionRefusedError()
    if not other_ids or keep.pk in other_ids:
        _refuse(_("Choose the customer to keep and at least one other customer."), "empty")
    found = _editable_batch(actor, [keep.pk, *other_ids])
    keep = next(c for c in found if c.pk == keep.pk)
    merged = [c for c in found if c.pk != keep.pk]
    for customer in merged:
        if refusals := hooks.delete_refusals(customer, merging=True):
            # Documents would move too once modules exist; until they register a mover,
            # refuse rather than orphan them.
            _refuse(f"{customer.name}: {'；'.join(refusals)}", "protected")
    ids = [c.pk for c in merged]
    Contact.objects.filter(customer_id__in=ids).update(customer=keep)
    # The merged customers' own follow-ups and files are now the kept one's; those on other
    # records (a converted lead's) keep their record and gain the kept customer.
    for model in (FollowUp, Attachment):
        model.objects.filter(owned.on_ids(Customer, ids)).update(record_id=keep.pk)
        model.objects.filter(customer_id__in=ids).update(customer=keep)
    OwnershipEvent.objects.filter(customer_id__in=ids).update(customer=keep)
    followups_recount(keep.tenant_id, [keep.pk])
    hooks.merge_related(actor=actor, keep=keep, merged_ids=ids)
    have = set(CustomerParticipant.objects.filter(customer=keep).values_list("user_id", flat=True))
    for p in CustomerParticipant.objects.filter(customer_id__in=ids).order_by("pk"):
        if p.user_id not in have and p.user_id != keep.owner_id:
            CustomerParticipant.objects.create(
                tenant_id=keep.tenant_id, customer=keep, user_id=p.user_id, added_by=actor
            )
            have.add(p.user_id)
    granted = set(
        CustomerUserObjectPermission.objects.filter(content_object=keep).values_list(
            "user_id", "permission_id"
        )
    )
    for g in CustomerUserObjectPermission.objects.filter(content_object_id__in=ids):
        if (g.user_id, g.permission_id) not in granted and g.user_id != keep.owner_id:
            CustomerUserObjectPermission.objects.create(
                tenant_id=keep.tenant_id,
                user_id=g.user_id,
                permission_id=g.permission_id,
                content_object=keep,
            )
            granted.add((g.user_id, g.permission_id))
    tags = set(keep.tags.all()) | set(Tag.objects.filter(customertag__customer_id__in=ids))
    gained_tags, _none = _set_tags(keep, tags)
    attr_events_write(attr_events(keep, attr_values(keep), added_tags=gained_tags))
    starred = set(CustomerStar.objects.filter(customer=keep).values_list("user_id", flat=True))
    for s in CustomerStar.objects.filter(customer_id__in=ids):
        if s.user_id not in starred:
            CustomerStar.objects.create(tenant_id=keep.tenant_id, customer=keep, user_id=s.user_id)
            starred.add(s.user_id)
    from django.contrib.contenttypes.models import ContentType

    ActivityLog.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id__in=ids
    ).update(object_id=keep.pk)
    earliest = min([keep.created_at, *[c.created_at for c in merged]])
    follow_times = [d for d in [keep.last_followup_at, *(c.last_followup_at for c in merged)] if d]
    latest = max(follow_times) if follow_times else None
    Customer.objects.filter(pk=keep.pk).update(
        created_at=earliest, last_followup_at=latest, updated_by=actor, updated_at=timezone.now()
    )
    names = "、".join(c.name for c in merged)
    # One MERGED event per customer that disappears, so that counts built on ownership
    # events (the increment/stock report) can take the merged ones out again.
    OwnershipEvent.objects.bulk_create(
        OwnershipEvent(
            tenant_id=keep.tenant_id,
            customer=keep,
            kind=OwnershipEvent.Kind.MERGED,
            from_user_id=c.owner_id,
            to_user_id=keep.owner_id,
            actor=actor,
            note=c.name[:500],
            lifecycle=c.lifecycle,
        )
        for c in merged
    )
    Customer.objects.filter(pk__in=ids).delete()
    keep.refresh_from_db()
    _record(actor, keep, actions.CUSTOMER_MERGED, {"merged": ["", names]})
    return keep


@transaction.atomic
def customer_mark_signed(*, actor: User | None, customer: Customer) -> Customer:
    """Development → signed customer, with a deal (called when a first order or contract
    is approved). Writes a BECAME_SIGNED ownership event (the owner keeps it, but it leaves
    the development view of the increment report: lifecycle "development") and the
    lifecycle and deal status changes."""
    if customer.lifecycle != Customer.Lifecycle.SIGNED:
        before = attr_values(customer)
        now = timezone.now()
        customer.lifecycle = Customer.Lifecycle.SIGNED
        customer.deal_status = Customer.DealStatus.DEAL
        customer.signed_at = customer.signed_at or now
        customer.save(update_fields=["lifecycle", "deal_status", "signed_at", "updated_at"])
        OwnershipEvent.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            kind=OwnershipEvent.Kind.BECAME_SIGNED,
            from_user_id=customer.owner_id,
            to_user_id=customer.owner_id,
            actor=actor,
            lifecycle=Customer.Lifecycle.DEVELOPMENT,
            created_at=now,
        )
        attr_events_write(attr_events(customer, before, at=now))
        followups_recount(customer.tenant_id, [customer.pk])
        _record(actor, customer, actions.CUSTOMER_SIGNED)
    return customer


@transaction.atomic
def customer_back_to_development(*, actor: User | None, customer: Customer) -> Customer:
    """Signed → development customer (签约转开发), e.g. when its only order is voided."""
    if customer.lifecycle != Customer.Lifecycle.DEVELOPMENT:
        before = attr_values(customer)
        now = timezone.now()
        customer.lifecycle = Customer.Lifecycle.DEVELOPMENT
        customer.deal_status = Customer.DealStatus.NONE
        customer.signed_at = None
        customer.save(update_fields=["lifecycle", "deal_status", "signed_at", "updated_at"])
        OwnershipEvent.objects.create(
            tenant_id=customer.tenant_id,
            customer=customer,
            kind=OwnershipEvent.Kind.SIGNED_BACK,
            from_user_id=customer.owner_id,
            to_user_id=customer.owner_id,
            actor=actor,
            lifecycle=Customer.Lifecycle.DEVELOPMENT,
            created_at=now,
        )
        attr_events_write(attr_events(customer, before, at=now))
        followups_recount(customer.tenant_id, [customer.pk])
        _record(actor, customer, actions.CUSTOMER_BACK_TO_DEVELOPMENT)
    return customer


# ---------------------------------------------------------------- contacts


def _contact_values(data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    values["name"] = (values.get("name") or "").strip()
    if not values["name"]:
        _refuse(_("Enter the contact's name."), "required")
    if values.get("mobile"):
        from crm.phones import normalize_mobile

        try:
            values["mobile"] = normalize_mobile(values["mobile"])
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], code="invalid_mobile") from exc
    if values.get("phone"):
        values["phone"] = _clean_phone(values["phone"])
    return values


@transaction.atomic
def contact_create(*, actor: User, customer: Customer, data: dict) -> Contact:
    [customer] = _editable_batch(actor, [customer])
    contact = Contact.objects.create(
        tenant_id=actor.tenant_id, customer=customer, created_by=actor, **_contact_values(data)
    )
    _record(actor, customer, actions.CONTACT_CREATED, {"contact": ["", contact.name]})
    return contact


@transaction.atomic
def contact_update(*, actor: User, contact: Contact, data: dict) -> Contact:
    require_same_tenant(actor, contact)
    _editable_batch(actor, [contact.customer_id])
    values = _contact_values(data)
    before = activity.snapshot(contact, CONTACT_FIELDS)
    for key, value in values.items():
        setattr(contact, key, value)
    contact.save()
    changes = activity.diff(before, activity.snapshot(contact, CONTACT_FIELDS))
    if changes:
        _record(actor, contact.customer, actions.CONTACT_UPDATED, changes, contact.name)
    return contact


@transaction.atomic
def contact_delete(*, actor: User, contact: Contact) -> None:
    require_same_tenant(actor, contact)
    [customer] = _editable_batch(actor, [contact.customer_id])
    _record(actor, customer, actions.CONTACT_DELETED, {"contact": [contact.name, ""]})
    contact.delete()


# ---------------------------------------------------------------- follow-ups


def _customer_for_work(*, actor: User, row: Customer | int, what: str) -> Customer:
    """customers.owned: a customer, locked, the actor may follow up or add files to
    (``what``: "followup", "file") or change ("edit"); refused otherwise."""
    if what == "edit":
        [customer] = _editable_batch(actor, [row])
        return customer
    [customer] = _visible_batch(actor, [row])
    if not policies.may_follow_up(actor, customer):
        if what == "file":
            raise PermissionRefusedError(_("You may not add files to this customer."))
        raise PermissionRefusedError(_("You may not add follow-ups to this customer."))
    return customer


def _record_for_work(actor: User, record, what: str):
    """The owned record a follow-up or a file goes on, locked, visible and open to the
    actor's work, as its own module checks it (customers.owned); refused otherwise."""
    if record is None:
        raise ValueError("a record")
    return owned.kind_of(record).for_work(actor=actor, row=record, what=what)


def _is_on(row: FollowUp | Attachment, record) -> bool:
    """Whether a follow-up or a file belongs to ``record``: on it, or, for a customer, on
    any of its records (a converted lead's follow-ups are the customer's too)."""
    if isinstance(record, Customer):
        return row.customer_id == record.pk
    kind = owned.kind_of(record)
    return row.record_type_id == kind.content_type.pk and row.record_id == record.pk


@transaction.atomic
def followup_create(
    *,
    actor: User,
    record,
    content: str,
    kind=None,
    contact: Contact | None = None,
    followed_at: datetime.datetime | None = None,
    next_followup_at: datetime.datetime | None = None,
) -> FollowUp:
    """Record a follow-up on an owned record (a customer, a lead…; customers.owned) and on
    its customer when it has one; the record's last follow-up moves forward and its next
    follow-up becomes the one given (which feeds 今日待跟进 and pool recycling); its module
    may set more (a new lead that is followed up becomes contacted)."""
    subject = _record_for_work(actor, record, what="followup")
    record_kind = owned.kind_of(subject)
    content = (content or "").strip()
    if not content:
        _refuse(_("Write what happened."), "required")
    if kind is not None:
        require_same_tenant(actor, kind)
        if kind.kind != OptionKind.FOLLOWUP_TYPE:
            _refuse(_("Choose a valid option."), "option")
    if contact is not None and contact.customer_id != record_kind.customer_id(subject):
        _refuse(_("The contact does not belong to this customer."), "contact")
    now = timezone.now()
    followed_at = followed_at or now
    if followed_at > now + datetime.timedelta(minutes=5):
        _refuse(
            _("A follow-up cannot happen in the future; set the next follow-up time instead."),
            "future",
        )
    if next_followup_at is not None and next_followup_at <= followed_at:
        _refuse(_("The next follow-up must be after this one."), "next_before")
    link = owned.link(subject)
    counts_as = record_kind.counts_as
    if isinstance(subject, Customer):
        counts_as = subject.lifecycle
    elif counts_as is None and link["customer_id"] is not None:
        # Its customer's lifecycle now (one value; a customer in the recycle bin: "").
        counts_as = (
            Customer.objects.filter(pk=link["customer_id"], deleted_at__isnull=True)
            .values_list("lifecycle", flat=True)
            .first()
        )
    followup = FollowUp.objects.create(
        tenant_id=actor.tenant_id,
        **link,
        counts_as=counts_as or "",
        contact=contact,
        kind=kind,
        content=content,
        followed_at=followed_at,
        next_followup_at=next_followup_at,
        created_by=actor,
    )
    update = {"updated_at": now}
    # Records that keep follow-up times (customers, leads) move them; others only gain the row.
    if hasattr(subject, "last_followup_at"):
        last = subject.last_followup_at
        if last is None or followed_at > last:
            update["last_followup_at"] = followed_at
        if next_followup_at is not None or followed_at >= (last or followed_at):
            update["next_followup_at"] = next_followup_at
    if record_kind.touches_customer and link["customer_id"] is not None:
        # The customer is being worked on: its last follow-up moves forward too (one UPDATE).
        Customer.objects.filter(pk=link["customer_id"]).filter(
            Q(last_followup_at__isnull=True) | Q(last_followup_at__lt=followed_at)
        ).update(last_followup_at=followed_at)
    if record_kind.followed_up is not None:
        update.update(record_kind.followed_up(subject))
    type(subject).objects.filter(pk=subject.pk).update(**update)
    _record(actor, subject, actions.FOLLOWUP_CREATED, note=content[:200])
    return followup


@transaction.atomic
def followup_comment(*, actor: User, followup: FollowUp, content: str) -> FollowUpComment:
    """A manager's comment (点评) on a follow-up of any owned record (customers.owned):
    stored, logged on the record the follow-up is on, and sent to the follow-up's author
    (while active) with a link to that record's page. Refused for a follow-up the actor may
    not see (not found), for anyone but the author's managers (customers.policies
    .may_comment) and without content."""
    require_same_tenant(actor, followup)
    try:
        record = followup_record_for_actor(actor=actor, followup=followup)
    except Http404 as exc:
        raise NotVisibleError(_("The record does not exist.")) from exc
    if not policies.may_comment(actor, followup):
        raise PermissionRefusedError(_("Only the author's managers comment on follow-ups."))
    content = (content or "").strip()
    if not content:
        _refuse(_("Write a comment."), "required")
    comment = FollowUpComment.objects.create(
        tenant_id=actor.tenant_id, followup=followup, author=actor, content=content[:1000]
    )
    _record(actor, record, actions.FOLLOWUP_COMMENTED, note=content[:200])
    if followup.created_by.is_active:
        notification_send(
            tenant_id=actor.tenant_id,
            recipients=[followup.created_by],
            title=_("%(name)s commented on your follow-up of %(record)s")
            % {"name": actor, "record": record},
            body=content[:200],
            link=owned.kind_of(record).detail_url(record.pk),
        )
    return comment


# ---------------------------------------------------------------- attachments


@transaction.atomic
def attachment_add(
    *,
    actor: User,
    record,
    upload,
    followup: FollowUp | None = None,
) -> Attachment:
    """Store a file on an owned record (a customer, a lead…; customers.owned) and on its
    customer when it has one: at most 100 MB, 10 per record (a customer's count includes
    the files of its converted leads), known document and image types only."""
    subject = _record_for_work(actor, record, what="file")
    record_kind = owned.kind_of(subject)
    name = os.path.basename(upload.name or "")[:200]
    extension = os.path.splitext(name)[1].lower()
    if extension not in ALLOWED_EXTENSIONS:
        _refuse(
            _(
                "This file type is not accepted: %(ext)s. Upload documents, spreadsheets, "
                "images, archives or recordings."
            )
            % {"ext": extension or "?"},
            "type",
        )
    if upload.size > MAX_ATTACHMENT_BYTES:
        _refuse(_("The file is larger than 100 MB."), "too_large")
    if upload.size == 0:
        _refuse(_("The file is empty."), "empty")
    # The record is locked (_record_for_work), so two uploads cannot both pass the count.
    present = (
        Attachment.objects.filter(customer=subject)
        if isinstance(subject, Customer)
        else Attachment.objects.filter(owned.on(subject))
    )
    if present.count() >= MAX_ATTACHMENTS_PER_CUSTOMER:
        _refuse(str(record_kind.files_full), "too_many")
    if followup is not None and not _is_on(followup, subject):
        _refuse(str(record_kind.followup_elsewhere), "followup")
    attachment = Attachment(
        tenant_id=actor.tenant_id,
        **owned.link(subject),
        followup=followup,
        original_name=name,
        size=upload.size,
        content_type=(getattr(upload, "content_type", "") or "")[:100],
        uploaded_by=actor,
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    _record(actor, subject, actions.ATTACHMENT_ADDED, {"file": ["", name]})
    return attachment


@transaction.atomic
def attachment_delete(*, actor: User, attachment: Attachment) -> None:
    """Delete a file of an owned record (those who may change it; a file with a customer,
    a converted lead's included, by those who may change the customer)."""
    require_same_tenant(actor, attachment)
    if attachment.customer_id is None:
        record_kind = owned.kind_for_type(attachment.record_type_id)
        subject = record_kind.for_work(actor=actor, row=attachment.record_id, what="edit")
    else:
        [subject] = _editable_batch(actor, [attachment.customer_id])
    _record(actor, subject, actions.ATTACHMENT_DELETED, {"file": [attachment.original_name, ""]})
    storage_file = attachment.file
    attachment.delete()
    transaction.on_commit(lambda: storage_file.delete(save=False))


# ---------------------------------------------------------------- saved searches


@transaction.atomic
def saved_search_create(
    *, actor: User, name: str, query: str, list_kind: str = SavedSearch.ListKind.CUSTOMERS
) -> SavedSearch:
    """A named search of the customer list or (``list_kind="leads"``) of the lead list.

    Idempotent: saving the same name with the same query again (a double submit, two tabs
    at once) answers the search already saved; the same name for another query is
    refused. A concurrent duplicate meets the unique constraint inside a savepoint and is
    read back, never a 500."""
    if list_kind not in SavedSearch.ListKind.values:
        raise ValueError(list_kind)
    name = (name or "").strip()[:50]
    if not name:
        _refuse(_("Name the search."), "required")
    query = (query or "").lstrip("?")[:1000]
    mine = SavedSearch.objects.filter(
        tenant_id=actor.tenant_id, user=actor, list_kind=list_kind, name=name
    )
    existing = mine.first()
    if existing is None:
        try:
            with transaction.atomic():
                return SavedSearch.objects.create(
                    tenant_id=actor.tenant_id,
                    user=actor,
                    list_kind=list_kind,
                    name=name,
                    query=query,
                )
        except IntegrityError:
            existing = mine.first()
            if existing is None:
                raise
    if existing.query != query:
        _refuse(_("You already have a search with this name."), "duplicate")
    return existing


@transaction.atomic
def saved_search_delete(*, actor: User, search: SavedSearch) -> None:
    if search.user_id != actor.pk or search.tenant_id != actor.tenant_id:
        _refuse(_("The record does not exist."), "not_found")
    search.delete()


# Customers are owned records too: their follow-ups and files go through customers.owned.
owned.register(
    owned.OwnedKind(
        key="customer",
        model=Customer,
        get_for_actor=lambda *, actor, pk: get_visible_or_404(
            actor, Customer.objects.alive(), pk=pk
        ),
        for_work=_customer_for_work,
        detail_url=lambda pk: reverse("customers:customer-detail", args=[pk]),
        customer_id=lambda customer: customer.pk,
        files_full=gettext_lazy("A customer has at most 10 files; delete one first."),
        followup_elsewhere=gettext_lazy("The follow-up does not belong to this customer."),
    )
)
