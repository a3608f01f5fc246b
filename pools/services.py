"""Every state change of the pools: groups and rules, claim, assign, return, move,
initialise. Recycling and its warnings live in ``pools.recycling``.

The same code serves every kind of pooled row (customers in the public pool, leads in the
lead pools): the ``pool_subject_*`` functions take a ``pools.subjects`` subject that says
what lies in the pool; the apps that own the rows hold the entry points
(``customers.pooling``, ``leads.pooling``). Nothing here names a model of those apps.

Each owner change goes through the subject's one ownership-change service
(``customers.services.ownership_change``, ``leads.services.lead_ownership_change``: one
event per row) and writes the activity log. Batches are all-or-nothing for permission and
rule problems; a row someone else took first is reported (by name when the actor may still
see it), not refused.

Concurrency (claims and assignments): the receiving users' rows are locked first (in id
order), then the customers (in id order), so that limits are counted under the lock and two
claimers cannot both take a customer. Every other path that gives a user rows a holding
limit counts takes the same user lock first (``lock_users``: transfers in
``customers.services`` / ``leads.services``, the customer import's owners in
``customers.importing``) before it counts (``holding_check_receive``, the subject's
``holding``), so a claim racing a transfer or an import counts what the other gave.
On SQLite every write transaction starts with BEGIN IMMEDIATE (crm.settings), which
serialises them.
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
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import Department, Option, OptionKind, User
from crm.services import require_same_tenant
from crm.visibility import visible_to
from pools import activity_actions as actions
from pools.models import (
    HIDDEN_FIELD_KEYS_BY_KIND,
    PoolGroup,
    PoolGroupDepartment,
    PoolGroupUser,
    PoolLevelRule,
    PoolReason,
)
from pools.selectors import is_group_admin, is_group_member, is_pool_manager
from pools.subjects import PoolSubject, subject_for

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
    "recycle_no_opportunity_days",
    "exempt_signed",
    "exempt_with_opportunity",
    "exempt_locked",
    "warn_days",
    "hidden_fields",
    "allow_return_elsewhere",
]
# The rules a lead pool has: no deal (leads are not sold to), no signed or locked leads, no
# level rules; the same warning before recycling.
LEAD_GROUP_FIELDS = [
    "name",
    "is_enabled",
    "open_to_all",
    "sort_order",
    "claim_mode",
    "daily_claim_limit",
    "holding_limit",
    "cooldown_days",
    "recycle_no_followup_days",
    "warn_days",
    "hidden_fields",
    "allow_return_elsewhere",
]
GROUP_FIELDS_BY_KIND = {"customer": GROUP_FIELDS, "lead": LEAD_GROUP_FIELDS}


def _refuse(message, code: str):
    raise ServiceError(message, code=code)


def _names(rows, limit: int = 10, *, subject: PoolSubject) -> str:
    names = [subject.label(c) for c in rows]
    text = "、".join(names[:limit])
    return text + ("…" if len(names) > limit else "")


# ---------------------------------------------------------------- groups


def default_group_for(tenant_id: int, kind: str) -> PoolGroup:
    """The tenant's default group of ``kind`` (customer: 默认公海, lead: 默认线索池: the
    subject's ``default_group_name``), created on first use (every member sees it)."""
    group = PoolGroup.objects.filter(tenant_id=tenant_id, kind=kind, is_default=True).first()
    if group is not None:
        return group
    # The name is data, stored once: in the installation's language (zh-hans), whatever
    # language the request or the command that creates it runs in.
    with translation.override(settings.LANGUAGE_CODE):
        name = str(subject_for(kind).default_group_name)
    try:
        with transaction.atomic():
            taken = PoolGroup.objects.filter(tenant_id=tenant_id, name=name).exists()
            return PoolGroup.objects.create(
                tenant_id=tenant_id,
                kind=kind,
                name=f"{name} ({tenant_id})" if taken else name,
                is_default=True,
                open_to_all=True,
            )
    except IntegrityError:
        return PoolGroup.objects.get(tenant_id=tenant_id, kind=kind, is_default=True)


def _require_manager(actor: User, kind: str) -> None:
    if not is_pool_manager(actor, kind):
        raise PermissionRefusedError()


def _clean_group_data(actor: User, data: dict, kind: str) -> dict:
    values = {k: v for k, v in data.items() if k in GROUP_FIELDS_BY_KIND[kind]}
    name = (values.get("name") or "").strip()
    if "name" in values:
        if not name:
            _refuse(_("Enter the pool group's name."), "required")
        values["name"] = name
    hidden = values.get("hidden_fields")
    if hidden is not None:
        keys = HIDDEN_FIELD_KEYS_BY_KIND[kind]
        unknown = [k for k in hidden if k not in keys]
        if unknown:
            _refuse(_("Unknown field to hide: %(keys)s") % {"keys": ", ".join(unknown)}, "field")
        values["hidden_fields"] = [k for k in keys if k in hidden]
        values["hidden_fields"].sort()
    return values


@transaction.atomic
def pool_group_save(
    *,
    actor: User,
    data: dict,
    group: PoolGroup | None = None,
    kind: str | None = None,
    departments: Sequence[Department] | None = None,
    users: Sequence[User] | None = None,
    admins: Sequence[User] | None = None,
    level_rules: Sequence[tuple] | None = None,
) -> PoolGroup:
    """Create or change a pool group with its members, admins and per-level rules. A new
    group is of ``kind`` (required then); a group keeps its kind for life. Lead pools
    take the lead rules only (``LEAD_GROUP_FIELDS``) and no level rules. A level rule is
    ``(level option, no_followup_days, no_deal_days[, no_opportunity_days])``."""
    if kind is not None and kind not in GROUP_FIELDS_BY_KIND:
        _refuse(_("Choose a valid option."), "kind")
    if group is not None and kind is not None and group.kind != kind:
        _refuse(subject_for(kind).message("kind"), "kind")
    if group is None and kind is None:
        _refuse(_("Choose a valid option."), "kind")
    kind = group.kind if group is not None else kind
    _require_manager(actor, kind)
    require_same_tenant(actor, group, *(departments or []), *(users or []), *(admins or []))
    values = _clean_group_data(actor, data, kind)
    creating = group is None
    if creating and not values.get("name"):
        _refuse(_("Enter the pool group's name."), "required")
    name = values.get("name", group.name if group else "")
    clash = PoolGroup.objects.filter(tenant_id=actor.tenant_id, name=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    taken = _("A pool group with this name exists already.")
    if clash.exists():
        _refuse(taken, "duplicate")
    if group is not None and group.is_default and values.get("is_enabled") is False:
        _refuse(_("The default pool group cannot be disabled."), "default")
    if level_rules and not subject_for(kind).level_rules:
        _refuse(_("Choose a valid option."), "option")
    for option, *_days in level_rules or []:
        require_same_tenant(actor, option)
        if option.kind != OptionKind.CUSTOMER_LEVEL:
            _refuse(_("Choose a valid option."), "option")
    fields = [*GROUP_FIELDS_BY_KIND[kind]]
    before = activity.snapshot(group, fields) if group else {}
    if creating:
        group = PoolGroup(tenant_id=actor.tenant_id, kind=kind)
    for key, value in values.items():
        setattr(group, key, value)
    with refused_if_taken(taken):
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
                no_opportunity_days=(rest[0] if rest else None) or None,
            )
            for option, followup, deal, *rest in level_rules
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
    """Delete an empty, non-default group (its customers or leads must be moved first)."""
    _require_manager(actor, group.kind)
    require_same_tenant(actor, group)
    if group.is_default:
        _refuse(_("The default pool group cannot be deleted."), "default")
    subject = subject_for(group.kind)
    count = subject.model.objects.filter(tenant_id=actor.tenant_id, pool_group=group).count()
    if count:
        _refuse(subject.message("not_empty", count), "not_empty")
    activity.activity_record(actor=actor, target=group, action=actions.POOL_GROUP_DELETED)
    group.delete()


# ---------------------------------------------------------------- shared


@dataclass
class PoolResult:
    """What a pool action did: the rows it changed and, by name, those another user took
    first (not an error: the rest of the batch went through)."""

    subject: PoolSubject
    done: list = field(default_factory=list)
    lost: list = field(default_factory=list)
    #: Whether the actor may still see every lost row (then the message names them).
    lost_visible: bool = True

    @property
    def lost_message(self) -> str:
        if not self.lost:
            return ""
        if not self.lost_visible:
            # SECURITY: never name a row the actor may not see (its new owner is outside
            # the actor's data scope); the count alone says what happened.
            return self.subject.message("lost_unnamed", len(self.lost))
        return self.subject.message(
            "lost", len(self.lost), names=_names(self.lost, subject=self.subject)
        )


def _all_visible(actor: User, subject: PoolSubject, rows) -> bool:
    """Whether ``actor`` sees every row of ``rows`` (one query)."""
    ids = {row.pk for row in rows}
    if not ids:
        return True
    seen = visible_to(actor, subject.model.objects.filter(pk__in=ids)).values_list("pk", flat=True)
    return set(seen) == ids


def _ids(rows, subject: PoolSubject) -> list[int]:
    model = subject.model
    ids = sorted({r.pk if isinstance(r, model) else int(r) for r in rows})
    if not ids:
        _refuse(subject.message("empty"), "empty")
    return ids


def lock_users(tenant_id: int, user_ids) -> dict[int, User]:
    """Lock the rows of the users who receive records (in id order, so that two lockers
    never wait on each other in a circle) and return them by id.

    Every path that gives a user rows a holding limit counts (claim, assign, transfer, an
    import naming owners) locks the receiving users first, before it locks the rows and
    counts what they hold: under the lock the count is current, since whoever gave them
    rows before has committed. ``FOR NO KEY UPDATE``: lockers exclude each other, but rows
    that merely refer to the user (an activity log line, a follow-up) are not blocked."""
    users = list(
        User.tenant_objects.select_for_update(no_key=True)
        .filter(tenant_id=tenant_id, pk__in=sorted(set(user_ids)))
        .order_by("pk")
    )
    return {u.pk: u for u in users}


def _split_taken(actor: User, ids: list[int], rows: list, *, admin: bool, subject: PoolSubject):
    """(still in the pool, taken by someone else). Rows that are missing, or that lie or
    belong in groups the actor has no part in (or in a group of the other kind), refuse the
    whole batch as invisible."""
    allowed = is_group_admin if admin else is_group_member
    found = {c.pk: c for c in rows}
    invisible = [pk for pk in ids if pk not in found]
    available, taken = [], []
    for row in rows:
        group = row.pool_group
        group_ok = group is not None and group.is_enabled and group.kind == subject.kind
        if not group_ok or not allowed(actor, row.pool_group_id, subject.kind):
            invisible.append(row.pk)
        elif row.pooled_at is None:
            taken.append(row)
        else:
            available.append(row)
    if invisible:
        _refuse(subject.message("not_visible", len(invisible)), "not_visible")
    return available, taken


def today_start(now: datetime.datetime | None = None) -> datetime.datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def claimed_today(user: User, group: PoolGroup, now=None) -> int:
    """What ``user`` claimed from ``group`` today (its kind's events)."""
    events = subject_for(group.kind).event_model
    return events.objects.filter(
        tenant_id=user.tenant_id,
        to_user_id=user.pk,
        kind=events.Kind.CLAIMED,
        pool_group=group,
        created_at__gte=today_start(now),
    ).count()


def _check_holding(
    user: User,
    groups_counts: dict[PoolGroup, int],
    *,
    for_self: bool,
    subject: PoolSubject,
    message: str = "",
) -> None:
    """Refuse when ``user`` (whose row the caller locked: ``lock_users``) would hold more
    than a group's holding limit after receiving ``groups_counts`` rows."""
    total = sum(groups_counts.values())
    for group in groups_counts:
        if not group.holding_limit:
            continue
        held = subject.holding(user, group)
        if held + total > group.holding_limit:
            room = max(0, group.holding_limit - held)
            _refuse(
                subject.message(
                    message or ("holding_self" if for_self else "holding_other"),
                    user=user,
                    held=held,
                    group=group.name,
                    limit=group.holding_limit,
                    room=room,
                ),
                "holding_limit",
            )


def holding_check_receive(
    *, subject: PoolSubject, user: User, rows: Sequence, message: str = "holding_transfer"
) -> None:
    """``user`` receives owned ``rows`` of ``subject`` outside the pool (转移, an import
    naming owners): the holding limits of the rows' groups bound them as they bound a claim
    or an assignment (拥有上限 is a cap on a rep's book, whoever fills it). The caller locked
    the user first (``lock_users``), then the rows. Rows the limit does not count (a signed
    customer where the group leaves them out, a closed lead) do not count here either."""
    by_group: dict[int, list] = defaultdict(list)
    for row in rows:
        if row.pool_group_id and row.owner_id != user.pk:
            by_group[row.pool_group_id].append(row)
    if not by_group:
        return
    limited = PoolGroup.objects.filter(
        tenant_id=user.tenant_id, pk__in=list(by_group), holding_limit__gt=0
    )
    counts = {}
    for group in limited:
        counted = [r for r in by_group[group.pk] if _counts_in_holding(subject, r, group)]
        if counted:
            counts[group] = len(counted)
    _check_holding(user, counts, for_self=False, subject=subject, message=message)


def holding_room_for_import(
    *, subject: PoolSubject, group: PoolGroup | None, tenant_id: int, rows: list, owner_of
) -> tuple[list, list[tuple[object, str]]]:
    """An import naming owners: split its new ``rows`` into (kept, refused) by the holding
    limit of ``group`` (the group an owned imported row belongs to, the kind's default).
    ``owner_of(row)`` is the row's owner id or None; a refused row comes with the subject's
    ``holding_import`` message naming the owner. The owners are locked first
    (:func:`lock_users`, as a claim locks its claimer), so a claim racing the import counts
    what the import gave, and the import counts what the claim took. Every new row counts."""
    if not rows or group is None or not group.holding_limit:
        return rows, []
    users = lock_users(tenant_id, [owner_of(r) for r in rows if owner_of(r)])
    held = {pk: subject.holding(user, group) for pk, user in users.items()}
    kept, refused = [], []
    for row in rows:
        owner = users.get(owner_of(row))
        if owner is None or held[owner.pk] < group.holding_limit:
            if owner is not None:
                held[owner.pk] += 1
            kept.append(row)
            continue
        message = subject.message(
            "holding_import",
            user=owner,
            held=held[owner.pk],
            group=group.name,
            limit=group.holding_limit,
        )
        refused.append((row, message))
    return kept, refused


def _counts_in_holding(subject: PoolSubject, row, group: PoolGroup) -> bool:
    # A subject may say which rows its holding count leaves out (``counts_in_holding``).
    counts = getattr(subject, "counts_in_holding", None)
    return True if counts is None else counts(row, group)


def _log_each(actor, rows, action, changes_for=None, note=""):
    activity.activity_record_many(
        actor=actor, targets=rows, action=action, changes_for=changes_for, note=note
    )


def _by_group(rows) -> dict[PoolGroup, list]:
    grouped: dict[PoolGroup, list] = defaultdict(list)
    for row in rows:
        grouped[row.pool_group].append(row)
    return grouped


def pooled_fields(subject: PoolSubject, *, now, group, reason, note="", days=None) -> dict:
    """The columns that put rows into ``group``'s pool (with the owner change to None)."""
    return {
        "pooled_at": now,
        "previous_owner": F("owner"),
        "pool_group": group,
        "pool_reason": reason,
        "pool_reason_days": days,
        "pool_note": note[:500],
        "owned_since": None,
        **subject.pooled_fields,
    }


# ---------------------------------------------------------------- claim / assign


def pool_subject_claim(*, actor: User, subject: PoolSubject, rows: Sequence) -> PoolResult:
    """The actor takes rows of ``subject`` from pools they are a member of (领取), single or
    batch. Call inside a transaction (the public wrappers are atomic)."""
    ids = _ids(rows, subject)
    if not actor.is_active:
        raise PermissionRefusedError()
    lock_users(actor.tenant_id, [actor.pk])
    locked = subject.lock(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, locked, admin=False, subject=subject)
    lost = [c for c in taken if c.owner_id != actor.pk]
    result = PoolResult(subject, lost=lost, lost_visible=_all_visible(actor, subject, lost))
    admin_only = [
        c
        for c in available
        if c.pool_group.claim_mode == PoolGroup.ClaimMode.ADMIN
        and not is_group_admin(actor, c.pool_group_id, subject.kind)
    ]
    if admin_only:
        _refuse(
            subject.message(
                "admin_only", group="、".join(sorted({c.pool_group.name for c in admin_only}))
            ),
            "admin_only",
        )
    now = timezone.now()
    cooling = []
    for row in available:
        days = row.pool_group.cooldown_days
        if (
            days
            and row.previous_owner_id == actor.pk
            and row.pooled_at > now - datetime.timedelta(days=days)
        ):
            cooling.append(row)
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
                "names": _names(cooling, subject=subject),
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
                    subject.message(
                        "daily_limit",
                        done=done_today,
                        group=group.name,
                        limit=group.daily_claim_limit,
                        room=max(0, group.daily_claim_limit - done_today),
                    ),
                    "daily_limit",
                )
    _check_holding(actor, {g: len(m) for g, m in grouped.items()}, for_self=True, subject=subject)
    for group, members in grouped.items():
        subject.change_owner(
            actor=actor,
            rows=members,
            to_user=actor,
            kind=subject.event_model.Kind.CLAIMED,
            group=group,
        )
        _log_each(actor, members, actions.POOL_CLAIMED, note=group.name)
    result.done = available
    return result


def pool_subject_assign(
    *,
    actor: User,
    subject: PoolSubject,
    rows: Sequence,
    users: Sequence[User],
    distribution: str = "even",
    note: str = "",
) -> PoolResult:
    """A pool admin hands pool rows to users (分配): to one user, or spread over several
    evenly (平均: in turn, by id) or at random (随机). Call inside a transaction."""
    ids = _ids(rows, subject)
    targets = sorted({u.pk: u for u in users}.values(), key=lambda u: u.pk)
    if not targets:
        _refuse(_("Choose at least one user."), "no_user")
    require_same_tenant(actor, *targets)
    if distribution not in ("even", "random"):
        _refuse(_("Choose even or random distribution."), "distribution")
    locked_users = lock_users(actor.tenant_id, [u.pk for u in targets] + [actor.pk])
    inactive = [u for u in targets if u.pk not in locked_users or not locked_users[u.pk].is_active]
    if inactive:
        _refuse(subject.message("inactive", names="、".join(str(u) for u in inactive)), "inactive")
    locked = subject.lock(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, locked, admin=True, subject=subject)
    result = PoolResult(subject, lost=taken, lost_visible=_all_visible(actor, subject, taken))
    if not available:
        return result
    order = list(available)
    if distribution == "random":
        random.shuffle(order)
        shares = {u.pk: [] for u in targets}
        for row in order:
            shares[random.choice(targets).pk].append(row)  # noqa: S311 - not security
    else:
        shares = {u.pk: order[i :: len(targets)] for i, u in enumerate(targets)}
    for user in targets:
        share = shares[user.pk]
        if share:
            _check_holding(
                locked_users[user.pk],
                {g: len(m) for g, m in _by_group(share).items()},
                for_self=False,
                subject=subject,
            )
    for user in targets:
        for group, members in _by_group(shares[user.pk]).items():
            subject.change_owner(
                actor=actor,
                rows=members,
                to_user=locked_users[user.pk],
                kind=subject.event_model.Kind.ASSIGNED,
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


def return_targets(actor: User, row=None, *, kind: str) -> list[PoolGroup]:
    """Groups of ``kind`` that ``actor`` may return ``row`` (a pooled model's row) into: its
    own group, others when its group allows members to choose or when the actor administers
    the target."""
    groups = list(PoolGroup.objects.filter(tenant_id=actor.tenant_id, kind=kind, is_enabled=True))
    if row is None:
        return groups
    home = row.pool_group_id
    allow = row.pool_group.allow_return_elsewhere if row.pool_group_id else True
    return [g for g in groups if g.pk == home or allow or is_group_admin(actor, g.pk, kind)]


def pool_subject_return(
    *,
    actor: User,
    subject: PoolSubject,
    rows: Sequence,
    reason: Option | None,
    note: str = "",
    group: PoolGroup | None = None,
) -> list:
    """Owners (or their managers) put rows back into the pool (退回) with a reason from the
    tenant's list and a free note, into their own group or, where allowed, another of the
    same kind. Call inside a transaction."""
    ids = _ids(rows, subject)
    if reason is None:
        _refuse(subject.message("reason"), "reason")
    require_same_tenant(actor, reason, group)
    if reason.kind != OptionKind.POOL_RETURN_REASON:
        _refuse(_("Choose a valid option."), "option")
    if group is not None and group.kind != subject.kind:
        _refuse(subject.message("kind"), "kind")
    note = (note or "").strip()
    locked = subject.lock(actor.tenant_id, ids)
    visible = set(
        visible_to(actor, subject.model.objects.filter(pk__in=ids)).values_list("pk", flat=True)
    )
    if len(locked) != len(ids) or any(c.pk not in visible for c in locked):
        _refuse(subject.message("return_not_visible"), "not_visible")
    in_pool = [c for c in locked if c.pooled_at is not None]
    if in_pool:
        _refuse(
            _("Already in the pool: %(names)s. Nothing was changed.")
            % {"names": _names(in_pool, subject=subject)},
            "in_pool",
        )
    refusal = subject.refuse_return(locked)
    if refusal is not None:
        _refuse(*refusal)
    refused = [c for c in locked if not subject.may_return(actor, c)]
    if refused:
        _refuse(
            subject.message("not_editable", names=_names(refused, subject=subject)),
            "not_editable",
        )
    default = default_group_for(actor.tenant_id, subject.kind)
    if group is not None and not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    targets: dict[PoolGroup, list] = defaultdict(list)
    for row in locked:
        home = row.pool_group if row.pool_group_id else None
        if home is not None and home.kind != subject.kind:
            home = None  # SECURITY: never back into a group of the other kind
        # A disabled group's pool is closed (nobody sees or claims from it): the row goes
        # into the default pool rather than vanishing there.
        target = group or (home if home is not None and home.is_enabled else default)
        elsewhere = group is not None and home is not None and target.pk != home.pk
        if elsewhere and not (
            home.allow_return_elsewhere or is_group_admin(actor, target.pk, subject.kind)
        ):
            _refuse(
                _("%(name)s can only go back to its own pool group %(group)s. Nothing was changed.")
                % {"name": subject.label(row), "group": home.name},
                "other_group",
            )
        targets[target].append(row)
    text = reason.label + (f"：{note}" if note else "")
    now = timezone.now()
    for target, members in targets.items():
        previous = {c.pk: str(c.owner) if c.owner_id else "" for c in members}
        subject.clear_when_pooled(members)
        subject.change_owner(
            actor=actor,
            rows=members,
            to_user=None,
            kind=subject.event_model.Kind.RETURNED,
            group=target,
            note=text,
            fields=pooled_fields(
                subject, now=now, group=target, reason=PoolReason.RETURNED, note=text
            ),
        )
        _log_each(
            actor,
            members,
            actions.POOL_RETURNED,
            changes_for=lambda c, p=previous: {"owner": [p[c.pk], ""]},
            note=f"{target.name}：{text}",
        )
    return locked


def pool_subject_move(*, actor: User, subject: PoolSubject, rows: Sequence, group: PoolGroup):
    """A pool admin moves pool rows into another group of the same kind (of which they are
    admin too). Call inside a transaction."""
    ids = _ids(rows, subject)
    require_same_tenant(actor, group)
    if group.kind != subject.kind:
        _refuse(subject.message("kind"), "kind")
    if not is_group_admin(actor, group.pk, subject.kind):
        raise PermissionRefusedError(_("You are not an admin of the target pool group."))
    if not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    locked = subject.lock(actor.tenant_id, ids)
    available, taken = _split_taken(actor, ids, locked, admin=True, subject=subject)
    if taken:
        if _all_visible(actor, subject, taken):
            message = _("No longer in the pool: %(names)s. Nothing was moved.") % {
                "names": _names(taken, subject=subject)
            }
        else:  # SECURITY: never name what the actor may not see
            unnamed = subject.message("lost_unnamed", len(taken))
            nothing = _("Nothing was moved.")
            message = f"{unnamed} {nothing}"
        _refuse(message, "taken")
    moving = [c for c in available if c.pool_group_id != group.pk]
    if not moving:
        return available
    sources = {c.pk: c.pool_group.name for c in moving}
    now = timezone.now()
    subject.model.objects.filter(pk__in=[c.pk for c in moving]).update(
        pool_group=group, updated_at=now, updated_by=actor
    )
    subject.event_model.objects.bulk_create(
        subject.event(
            c,
            kind=subject.event_model.Kind.MOVED,
            actor=actor,
            pool_group=group,
            note=sources[c.pk],
            created_at=now,
        )
        for c in moving
    )
    for row in moving:
        row.pool_group = group
    _log_each(
        actor,
        moving,
        actions.POOL_MOVED,
        changes_for=lambda c: {"pool_group": [sources[c.pk], group.name]},
    )
    return available


def pool_subject_initialize(
    *, actor: User, subject: PoolSubject, group: PoolGroup | None = None
) -> tuple[int, int]:
    """初始化公海分组: every live row of ``subject`` without a group gets ``group`` (default:
    the default group of its kind). Owned ones only gain the group (its rules now apply);
    ownerless ones go into its pool. Returns (owned, pooled) counts. Rows that have a group
    keep it. Call inside a transaction."""
    _require_manager(actor, subject.kind)
    require_same_tenant(actor, group)
    group = group or default_group_for(actor.tenant_id, subject.kind)
    if group.kind != subject.kind:
        _refuse(subject.message("kind"), "kind")
    if not group.is_enabled:
        _refuse(_("This pool group is disabled."), "disabled")
    base = subject.live(actor.tenant_id).filter(pool_group__isnull=True)
    now = timezone.now()
    ownerless = list(base.filter(owner__isnull=True).select_for_update().order_by("pk"))
    base.filter(owner__isnull=False, owned_since__isnull=True).update(owned_since=F("created_at"))
    owned = base.filter(owner__isnull=False).update(pool_group=group)
    if ownerless:
        subject.model.objects.filter(pk__in=[c.pk for c in ownerless]).update(
            pool_group=group,
            pooled_at=now,
            pool_reason=PoolReason.INITIALIZED,
            updated_at=now,
            updated_by=actor,
        )
        subject.event_model.objects.bulk_create(
            subject.event(
                c,
                kind=subject.event_model.Kind.MOVED,
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
