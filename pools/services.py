"""Every state change of the public pool: groups and rules, claim, assign, return, move,
initialise. Recycling and its warnings live in ``pools.recycling``.

Each owner change goes through ``customers.services.ownership_change`` (one ownership event
per customer) and writes the activity log. Batches are all-or-nothing for permission and
rule problems; a customer someone else took first is reported by name, not refused.

Concurrency (claims and assignments): the receiving users' rows are locked first (in id
order), then the customers (in id order), so that limits are counted under the lock and two
claimers cannot both take a customer. On SQLite every write transaction starts with
BEGIN IMMEDIATE (crm.settings), which serialises them.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import Department, Option, OptionKind, User
from crm.services import require_same_tenant, tenant_created
from crm.visibility import scope_user_ids
from customers.models import (
    Customer,
    CustomerParticipant,
    CustomerUserObjectPermission,
    OwnershipEvent,
    PoolReason,
)
from customers.services import ownership_change
from pools import activity_actions as actions
from pools.models import (
    HIDDEN_FIELD_KEYS,
    PoolGroup,
    PoolGroupDepartment,
    PoolGroupUser,
    PoolLevelRule,
)
from pools.selectors import is_group_admin, is_group_member, is_pool_manager

GROUP_FIELDS = [
    "name",
    "is_enabled",
    "open_to_all",
    "sort_order",
    "claim_mode",
    "daily_claim_limit",
    "holding_limit",
    "holding_counts_signed",
    "cooldown_days",
    "recycle_no_followup_days",
    "recycle_no_deal_days",
    "exempt_signed",
    "exempt_with_opportunity",
    "exempt_locked",
    "warn_days",
    "hidden_fields",
    "allow_return_elsewhere",
]


def _refuse(message, code: str):
    raise ServiceError(message, code=code)


def _names(customers, limit: int = 10) -> str:
    names = [c.name for c in customers]
    text = "、".join(names[:limit])
    return text + ("…" if len(names) > limit else "")


# ---------------------------------------------------------------- groups


def default_group_for(tenant_id: int) -> PoolGroup:
    """The tenant's default pool group, created on first use (every member sees it)."""
    group = PoolGroup.objects.filter(tenant_id=tenant_id, is_default=True).first()
    if group is not None:
        return group
    # The name is data, stored once: in the installation's language (zh-hans), whatever
    # language the request or the command that creates it runs in.
    with translation.override(settings.LANGUAGE_CODE):
        name = pgettext("pool group", "Default pool")
    try:
        with transaction.atomic():
            taken = PoolGroup.objects.filter(tenant_id=tenant_id, name=name).exists()
            return PoolGroup.objects.create(
                tenant_id=tenant_id,
                name=f"{name} ({tenant_id})" if taken else name,
                is_default=True,
                open_to_all=True,
            )
    except IntegrityError:
        return PoolGroup.objects.get(tenant_id=tenant_id, is_default=True)


@receiver(tenant_created)
def _create_default_group(sender, tenant, **kwargs) -> None:
    default_group_for(tenant.pk)


def _require_manager(actor: User) -> None:
    if not is_pool_manager(actor):
        raise PermissionRefusedError()


def _clean_group_data(actor: User, data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in GROUP_FIELDS}
    name = (values.get("name") or "").strip()
    if "name" in values:
        if not name:
            _refuse(_("Enter the pool group's name."), "required")
        values["name"] = name
    hidden = values.get("hidden_fields")
    if hidden is not None:
        unknown = [k for k in hidden if k not in HIDDEN_FIELD_KEYS]
        if unknown:
            _refuse(_("Unknown field to hide: %(keys)s") % {"keys": ", ".join(unknown)}, "field")
        values["hidden_fields"] = [k for k in HIDDEN_FIELD_KEYS if k in hidden]
        values["hidden_fields"].sort()
    return values


@transaction.atomic
def pool_group_save(
    *,
    actor: User,
    data: dict,
    group: PoolGroup | None = None,
    departments: Sequence[Department] | None = None,
    users: Sequence[User] | None = None,
    admins: Sequence[User] | None = None,
    level_rules: Sequence[tuple[Option, int | None, int | None]] | None = None,
) -> PoolGroup:
    """Create or change a pool group with its members, admins and per-level rules."""
    _require_manager(actor)
    require_same_tenant(actor, group, *(departments or []), *(users or []), *(admins or []))
    values = _clean_group_data(actor, data)
    creating = group is None
    if creating and not values.get("name"):
        _refuse(_("Enter the pool group's name."), "required")
    name = values.get("name", group.name if group else "")
    clash = PoolGroup.objects.filter(tenant_id=actor.tenant_id, name=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    if clash.exists():
        _refuse(_("A pool group with this name exists already."), "duplicate")
    if group is not None and group.is_default and values.get("is_enabled") is False:
        _refuse(_("The default pool group cannot be disabled."), "default")
    for option, *_days in level_rules or []:
        require_same_tenant(actor, option)
        if option.kind != OptionKind.CUSTOMER_LEVEL:
            _refuse(_("Choose a valid option."), "option")
    fields = [*GROUP_FIELDS]
    before = activity.snapshot(group, fields) if group else {}
    if creating:
        group = PoolGroup(tenant_id=actor.tenant_id)
    for key, value in values.items():
        setattr(group, key, value)
    group.save()
    if departments is not None:
        PoolGroupDepartment.objects.filter(group=group).exclude(department__in=departments).delete()
        have = set(
            PoolGroupDepartment.objects.filter(group=group).values_list("department_id", flat=True)
        )
        PoolGroupDepartment.objects.bulk_create(
            PoolGroupDepartment(tenant_id=actor.tenant_id, group=group, department=d)
            for d in departments
            if d.pk not in have
        )
    if users is not None or admins is not None:
        if admins is None:  # only members given: keep the admins
            admin_ids = set(
                PoolGroupUser.objects.filter(group=group, is_admin=True).values_list(
                    "user_id", flat=True
                )
            )
        else:
            admin_ids = {u.pk for u in admins}
        member_ids = {u.pk for u in users or []} | admin_ids
        if users is None:  # only admins given: keep the plain members
            member_ids |= set(
                PoolGroupUser.objects.filter(group=group, is_admin=False).values_list(
                    "user_id", flat=True
                )
            )
        PoolGroupUser.objects.filter(group=group).delete()
        PoolGroupUser.objects.bulk_create(
            PoolGroupUser(
                tenant_id=actor.tenant_id, group=group, user_id=uid, is_admin=uid in admin_ids
            )
            for uid in sorted(member_ids)
        )
    if level_rules is not None:
        PoolLevelRule.objects.filter(group=group).delete()
        PoolLevelRule.objects.bulk_create(
            PoolLevelRule(
                tenant_id=actor.tenant_id,
                group=group,
                level=option,
                no_followup_days=followup or None,
                no_deal_days=deal or None,
            )
            for option, followup, deal in level_rules
        )
    if creating:
        activity.activity_record(actor=actor, target=group, action=actions.POOL_GROUP_CREATED)
    else:
        changes = activity.diff(before, activity.snapshot(group, fields))
        activity.activity_record(
            actor=actor, target=group, action=actions.POOL_GROUP_UPDATED, changes=changes
        )
    return group


@transaction.atomic
def pool_group_delete(*, actor: User, group: PoolGroup) -> None:
    """Delete an empty, non-default group (its customers must be moved first)."""
    _require_manager(actor)
    require_same_tenant(actor, group)
    if group.is_default:
        _refuse(_("The default pool group cannot be deleted."), "default")
    count = Customer.objects.filter(tenant_id=actor.tenant_id, pool_group=group).count()
    if count:
        _refuse(
            ngettext(
                "%(count)d customer belongs to this group; move it to another group first.",
                "%(count)d customers belong to this group; move them to another group first.",
                count,
            )
            % {"count": count},
            "not_empty",
        )
    activity.activity_record(actor=actor, target=group, action=actions.POOL_GROUP_DELETED)
    group.delete()


# ---------------------------------------------------------------- shared


@dataclass
class PoolResult:
    """What a pool action did: the customers it changed and, by name, those another user
    took first (not an error: the rest of the batch went through)."""

    done: list[Customer] = field(default_factory=list)
    lost: list[Customer] = field(default_factory=list)

    @property
    def lost_message(self) -> str:
        if not self.lost:
            return ""
        return ngettext(
            "Someone else got %(count)d customer first: %(names)s",
            "Someone else got %(count)d customers first: %(names)s",
            len(self.lost),
        ) % {"count": len(self.lost), "names": _names(self.lost)}


def _ids(customers) -> list[int]:
    ids = sorted({c.pk if isinstance(c, Customer) else int(c) for c in customers})
    if not ids:
        _refuse(_("Select at least one customer."), "empty")
    return ids


def _lock_users(tenant_id: int, user_ids) -> dict[int, User]:
    users = list(
        User.tenant_objects.select_for_update()
        .filter(tenant_id=tenant_id, pk__in=sorted(set(user_ids)))
        .order_by("pk")
    )
    return {u.pk: u for u in users}


def _lock_customers(tenant_id: int, ids: list[int]) -> list[Customer]:
    """The live customers with these ids, locked in id order (no visibility filter: the
    callers decide per row what the actor may know)."""
    return list(
        Customer.objects.select_for_update(of=("self",))
        .select_related("pool_group", "owner")
        .filter(tenant_id=tenant_id, pk__in=ids, deleted_at__isnull=True)
        .order_by("pk")
    )


def _split_taken(actor: User, ids: list[int], rows: list[Customer], *, admin: bool):
    """(still in the pool, taken by someone else). Rows that are missing, or that lie or
    belong in groups the actor has no part in, refuse the whole batch as invisible."""
    allowed = is_group_admin if admin else is_group_member
    found = {c.pk: c for c in rows}
    invisible = [pk for pk in ids if pk not in found]
    available, taken = [], []
    for customer in rows:
        group_ok = customer.pool_group is not None and customer.pool_group.is_enabled
        if not group_ok or not allowed(actor, customer.pool_group_id):
            invisible.append(customer.pk)
        elif customer.pooled_at is None:
            taken.append(customer)
        else:
            available.append(customer)
    if invisible:
        _refuse(
            ngettext(
                "%(count)d selected customer is not in a pool you may use; nothing was changed.",
                "%(count)d selected customers are not in a pool you may use; nothing was changed.",
                len(invisible),
            )
            % {"count": len(invisible)},
            "not_visible",
        )
    return available, taken


def today_start(now: datetime.datetime | None = None) -> datetime.datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def claimed_today(user: User, group: PoolGroup, now=None) -> int:
    return OwnershipEvent.objects.filter(
        tenant_id=user.tenant_id,
        to_user_id=user.pk,
        kind=OwnershipEvent.Kind.CLAIMED,
        pool_group=group,
        created_at__gte=today_start(now),
    ).count()


def holding(user: User, *, counts_signed: bool) -> int:
    qs = Customer.objects.filter(
        tenant_id=user.tenant_id, owner_id=user.pk, deleted_at__isnull=True
    )
    if not counts_signed:
        qs = qs.exclude(lifecycle=Customer.Lifecycle.SIGNED)
    return qs.count()


def _check_holding(user: User, groups_counts: dict[PoolGroup, int], *, for_self: bool) -> None:
    total = sum(groups_counts.values())
    for group in groups_counts:
        if not group.holding_limit:
            continue
        held = holding(user, counts_signed=group.holding_counts_signed)
        if held + total > group.holding_limit:
            room = max(0, group.holding_limit - held)
            if for_self:
                message = _(
                    "You hold %(held)d customers; the limit of %(group)s is %(limit)d, so you "
                    "may take %(room)d more. Nothing was claimed."
                )
            else:
                message = _(
                    "%(user)s holds %(held)d customers; the limit of %(group)s is %(limit)d, "
                    "so they may take %(room)d more. Nothing was assigned."
                )
            _refuse(
                message
                % {
                    "user": user,
                    "held": held,
                    "group": group.name,
                    "limit": group.holding_limit,
                    "room": room,
                },
                "holding_limit",
            )


def _clear_team(customers: list[Customer]) -> None:
    """A customer going into the pool leaves its team behind (participants and their edit
    grants) and its lock: they belonged to the previous ownership."""
    ids = [c.pk for c in customers]
    CustomerParticipant.objects.filter(customer_id__in=ids).delete()
    CustomerUserObjectPermission.objects.filter(content_object_id__in=ids).delete()


def _log_each(actor, customers, action, changes_for=None, note=""):
    activity.activity_record_many(
        actor=actor, targets=customers, action=action, changes_for=changes_for, note=note
    )


def _by_group(customers) -> dict[PoolGroup, list[Customer]]:
    grouped: dict[PoolGroup, list[Customer]] = defaultdict(list)
    for customer in customers:
        grouped[customer.pool_group].append(customer)
    return grouped


# ---------------------------------------------------------------- claim / assign


@transaction.atomic
def pool_claim(*, actor: User, customers: Sequence[Customer | int]) -> PoolResult:
    """The actor takes customers from pools they are a member of (领取), single or batch."""
    ids = _ids(customers)
    if not actor.is_active:
        raise PermissionRefusedError()
    _lock_users(actor.tenant_id, [actor.pk])
    rows = _lock_customers(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, rows, admin=False)
    result = PoolResult(lost=[c for c in taken if c.owner_id != actor.pk])
    admin_only = [
        c
        for c in available
        if c.pool_group.claim_mode == PoolGroup.ClaimMode.ADMIN
        and not is_group_admin(actor, c.pool_group_id)
    ]
    if admin_only:
        _refuse(
            _("Only pool admins assign customers of %(group)s; nothing was claimed.")
            % {"group": "、".join(sorted({c.pool_group.name for c in admin_only}))},
            "admin_only",
        )
    now = timezone.now()
    cooling = []
    for customer in available:
        days = customer.pool_group.cooldown_days
        if (
            days
            and customer.previous_owner_id == actor.pk
            and customer.pooled_at > now - datetime.timedelta(days=days)
        ):
            cooling.append(customer)
    if cooling:
        until = max(
            c.pooled_at + datetime.timedelta(days=c.pool_group.cooldown_days) for c in cooling
        )
        _refuse(
            _(
                "You gave up %(names)s recently; you may claim them again from %(date)s. "
                "Nothing was claimed."
            )
            % {
                "names": _names(cooling),
                "date": timezone.localtime(until).strftime("%Y-%m-%d %H:%M"),
            },
            "cooldown",
        )
    grouped = _by_group(available)
    for group, members in grouped.items():
        if group.daily_claim_limit:
            done_today = claimed_today(actor, group, now)
            if done_today + len(members) > group.daily_claim_limit:
                _refuse(
                    _(
                        "You have claimed %(done)d customers from %(group)s today; the daily "
                        "limit is %(limit)d, so you may claim %(room)d more. Nothing was claimed."
                    )
                    % {
                        "done": done_today,
                        "group": group.name,
                        "limit": group.daily_claim_limit,
                        "room": max(0, group.daily_claim_limit - done_today),
                    },
                    "daily_limit",
                )
    _check_holding(actor, {g: len(m) for g, m in grouped.items()}, for_self=True)
    for group, members in grouped.items():
        ownership_change(
            actor=actor,
            customers=members,
            to_user=actor,
            kind=OwnershipEvent.Kind.CLAIMED,
            group=group,
        )
        _log_each(actor, members, actions.POOL_CLAIMED, note=group.name)
    result.done = available
    return result


@transaction.atomic
def pool_assign(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    users: Sequence[User],
    distribution: str = "even",
    note: str = "",
) -> PoolResult:
    """A pool admin hands pool customers to reps (分配): to one user, or spread over several
    evenly (平均: in turn, by id) or at random (随机)."""
    ids = _ids(customers)
    targets = sorted({u.pk: u for u in users}.values(), key=lambda u: u.pk)
    if not targets:
        _refuse(_("Choose at least one user."), "no_user")
    require_same_tenant(actor, *targets)
    if distribution not in ("even", "random"):
        _refuse(_("Choose even or random distribution."), "distribution")
    locked = _lock_users(actor.tenant_id, [u.pk for u in targets] + [actor.pk])
    inactive = [u for u in targets if u.pk not in locked or not locked[u.pk].is_active]
    if inactive:
        _refuse(
            _("A deactivated user cannot receive customers: %(names)s")
            % {"names": "、".join(str(u) for u in inactive)},
            "inactive",
        )
    rows = _lock_customers(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, rows, admin=True)
    result = PoolResult(lost=taken)
    if not available:
        return result
    order = list(available)
    if distribution == "random":
        random.shuffle(order)
        shares = {u.pk: [] for u in targets}
        for customer in order:
            shares[random.choice(targets).pk].append(customer)  # noqa: S311 - not security
    else:
        shares = {u.pk: order[i :: len(targets)] for i, u in enumerate(targets)}
    for user in targets:
        share = shares[user.pk]
        if share:
            _check_holding(
                locked[user.pk],
                {g: len(m) for g, m in _by_group(share).items()},
                for_self=False,
            )
    for user in targets:
        for group, members in _by_group(shares[user.pk]).items():
            ownership_change(
                actor=actor,
                customers=members,
                to_user=locked[user.pk],
                kind=OwnershipEvent.Kind.ASSIGNED,
                group=group,
                note=note,
            )
            _log_each(
                actor,
                members,
                actions.POOL_ASSIGNED,
                changes_for=lambda c, u=user: {"owner": ["", str(u)]},
                note=note,
            )
    result.done = available
    return result


# ---------------------------------------------------------------- return / move


def may_return(actor: User, customer: Customer) -> bool:
    """The owner, and managers whose data scope covers the owner (not for a locked one)."""
    if customer.owner_id is None or customer.deleted_at is not None:
        return False
    if customer.owner_id == actor.pk:
        return True
    if customer.is_locked:
        return False
    ids = scope_user_ids(actor)
    if ids is None:
        return True
    if isinstance(ids, list):
        return customer.owner_id in ids
    return ids.filter(id=customer.owner_id).exists()


def return_targets(actor: User, customer: Customer | None = None) -> list[PoolGroup]:
    """Groups ``actor`` may return ``customer`` into: its own group, others when its group
    allows members to choose or when the actor administers the target."""
    groups = list(PoolGroup.objects.filter(tenant_id=actor.tenant_id, is_enabled=True))
    if customer is None:
        return groups
    home = customer.pool_group_id
    allow = customer.pool_group.allow_return_elsewhere if customer.pool_group_id else True
    return [g for g in groups if g.pk == home or allow or is_group_admin(actor, g.pk)]


@transaction.atomic
def pool_return(
    *,
    actor: User,
    customers: Sequence[Customer | int],
    reason: Option | None,
    note: str = "",
    group: PoolGroup | None = None,
) -> list[Customer]:
    """Owners (or their managers) put customers back into the pool (退回公海) with a reason
    from the tenant's list and a free note, into their own group or, where allowed, another."""
    ids = _ids(customers)
    if reason is None:
        _refuse(_("Choose why the customers go back to the pool."), "reason")
    require_same_tenant(actor, reason, group)
    if reason.kind != OptionKind.POOL_RETURN_REASON:
        _refuse(_("Choose a valid option."), "option")
    note = (note or "").strip()
    rows = _lock_customers(actor.tenant_id, ids)
    from crm.visibility import visible_to

    visible = set(
        visible_to(actor, Customer.objects.filter(pk__in=ids)).values_list("pk", flat=True)
    )
    if len(rows) != len(ids) or any(c.pk not in visible for c in rows):
        _refuse(
            _(
                "Some selected customers do not exist or are not visible to you; "
                "nothing was changed."
            ),
            "not_visible",
        )
    in_pool = [c for c in rows if c.pooled_at is not None]
    if in_pool:
        _refuse(
            _("Already in the pool: %(names)s. Nothing was changed.") % {"names": _names(in_pool)},
            "in_pool",
        )
    refused = [c for c in rows if not may_return(actor, c)]
    if refused:
        _refuse(
            _(
                "You may not return these customers (not yours, or locked): %(names)s. "
                "Nothing was changed."
            )
            % {"names": _names(refused)},
            "not_editable",
        )
    default = default_group_for(actor.tenant_id)
    if group is not None and not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    targets: dict[PoolGroup, list[Customer]] = defaultdict(list)
    for customer in rows:
        home = customer.pool_group if customer.pool_group_id else None
        # A disabled group's pool is closed (nobody sees or claims from it): the customer
        # goes into the default pool rather than vanishing there.
        target = group or (home if home is not None and home.is_enabled else default)
        elsewhere = group is not None and home is not None and target.pk != home.pk
        if elsewhere and not (home.allow_return_elsewhere or is_group_admin(actor, target.pk)):
            _refuse(
                _("%(name)s can only go back to its own pool group %(group)s. Nothing was changed.")
                % {"name": customer.name, "group": home.name},
                "other_group",
            )
        targets[target].append(customer)
    text = reason.label + (f"：{note}" if note else "")
    now = timezone.now()
    for target, members in targets.items():
        previous = {c.pk: str(c.owner) if c.owner_id else "" for c in members}
        _clear_team(members)
        ownership_change(
            actor=actor,
            customers=members,
            to_user=None,
            kind=OwnershipEvent.Kind.RETURNED,
            group=target,
            note=text,
            fields={
                "pooled_at": now,
                "previous_owner": F("owner"),
                "pool_group": target,
                "pool_reason": PoolReason.RETURNED,
                "pool_reason_days": None,
                "pool_note": text[:500],
                "owned_since": None,
                "is_locked": False,
            },
        )
        _log_each(
            actor,
            members,
            actions.POOL_RETURNED,
            changes_for=lambda c, p=previous: {"owner": [p[c.pk], ""]},
            note=f"{target.name}：{text}",
        )
    return rows


@transaction.atomic
def pool_move(
    *, actor: User, customers: Sequence[Customer | int], group: PoolGroup
) -> list[Customer]:
    """A pool admin moves pool customers into another group (of which they are admin too)."""
    ids = _ids(customers)
    require_same_tenant(actor, group)
    if not is_group_admin(actor, group.pk):
        raise PermissionRefusedError(_("You are not an admin of the target pool group."))
    if not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    rows = _lock_customers(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, rows, admin=True)
    if taken:
        _refuse(
            _("No longer in the pool: %(names)s. Nothing was moved.") % {"names": _names(taken)},
            "taken",
        )
    moving = [c for c in available if c.pool_group_id != group.pk]
    if not moving:
        return available
    sources = {c.pk: c.pool_group.name for c in moving}
    now = timezone.now()
    Customer.objects.filter(pk__in=[c.pk for c in moving]).update(
        pool_group=group, updated_at=now, updated_by=actor
    )
    OwnershipEvent.objects.bulk_create(
        OwnershipEvent(
            tenant_id=actor.tenant_id,
            customer=c,
            kind=OwnershipEvent.Kind.MOVED,
            actor=actor,
            pool_group=group,
            note=sources[c.pk],
            created_at=now,
        )
        for c in moving
    )
    for customer in moving:
        customer.pool_group = group
    _log_each(
        actor,
        moving,
        actions.POOL_MOVED,
        changes_for=lambda c: {"pool_group": [sources[c.pk], group.name]},
    )
    return available


@transaction.atomic
def pool_initialize(*, actor: User, group: PoolGroup | None = None) -> tuple[int, int]:
    """初始化公海分组: every live customer without a group gets ``group`` (default: the
    default group). Owned ones only gain the group (its rules now apply); ownerless ones
    go into its pool. Returns (owned, pooled) counts. Customers that have a group keep it."""
    _require_manager(actor)
    require_same_tenant(actor, group)
    group = group or default_group_for(actor.tenant_id)
    if not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    base = Customer.objects.filter(
        tenant_id=actor.tenant_id, pool_group__isnull=True, deleted_at__isnull=True
    )
    now = timezone.now()
    ownerless = list(base.filter(owner__isnull=True).select_for_update().order_by("pk"))
    base.filter(owner__isnull=False, owned_since__isnull=True).update(owned_since=F("created_at"))
    owned = base.filter(owner__isnull=False).update(pool_group=group)
    if ownerless:
        Customer.objects.filter(pk__in=[c.pk for c in ownerless]).update(
            pool_group=group,
            pooled_at=now,
            pool_reason=PoolReason.INITIALIZED,
            updated_at=now,
            updated_by=actor,
        )
        OwnershipEvent.objects.bulk_create(
            OwnershipEvent(
                tenant_id=actor.tenant_id,
                customer=c,
                kind=OwnershipEvent.Kind.MOVED,
                actor=actor,
                pool_group=group,
                created_at=now,
            )
            for c in ownerless
        )
        _log_each(actor, ownerless, actions.POOL_INITIALIZED, note=group.name)
    return owned, len(ownerless)


def return_reasons(tenant_id: int):
    return Option.objects.filter(
        tenant_id=tenant_id, kind=OptionKind.POOL_RETURN_REASON, is_active=True
    )
