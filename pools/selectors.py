"""Reads of the pool: which groups a user belongs to or administers, the pool list, and
when (and why) an owned customer or lead will fall back into the pool."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from crm import masking
from crm.models import User
from crm.visibility import visible_to
from pools.hooks import activity_date
from pools.models import HIDDEN_FIELD_KEYS_BY_KIND, PoolGroup, PoolGroupUser, PoolLevelRule
from pools.subjects import subject_for

# Every function below that takes ``kind`` answers for the groups of that kind only
# (customer: the public pool 公海; lead: the lead pools 线索池), so that a group of one kind
# never shows up where the other kind is handled.


def is_pool_manager(user: User, kind: str) -> bool:
    """Holders of ``pool.manage`` (customer pools) or ``lead.manage`` (lead pools) configure
    every group of that kind and act as admins of all of them."""
    permission = subject_for(kind).manage_permission
    return bool(user.is_authenticated and user.tenant_id and user.can(permission))


def _department_chain(user: User) -> list[int]:
    """The user's department and every department above it (from the materialised path)."""
    if not user.department_id:
        return []
    path = user.department.path if user.department else ""
    return [int(part) for part in path.strip("/").split("/") if part] or [user.department_id]


def _cache(user: User, name: str) -> dict:
    cache = getattr(user, name, None)
    if cache is None:
        cache = {}
        setattr(user, name, cache)
    return cache


def member_group_ids(user: User, kind: str) -> list[int] | None:
    """Ids of the enabled groups of ``kind`` that ``user`` is a member of (directly or
    through a department or a parent department); ``None`` for the kind's pool managers
    (every group). Cached on the user for the request."""
    cache = _cache(user, "_pool_member_ids")
    if kind in cache:
        return cache[kind]
    if not user.is_authenticated or not user.tenant_id or not user.is_active:
        result: list[int] | None = []
    elif is_pool_manager(user, kind):
        result = None
    else:
        chain = _department_chain(user)
        condition = Q(open_to_all=True) | Q(member_users__user_id=user.pk)
        if chain:
            condition |= Q(member_departments__department_id__in=chain)
        result = sorted(
            set(
                PoolGroup.objects.filter(
                    condition, tenant_id=user.tenant_id, kind=kind, is_enabled=True
                )
                .values_list("id", flat=True)
                .distinct()
            )
        )
    cache[kind] = result
    return result


def admin_group_ids(user: User, kind: str) -> list[int] | None:
    """Ids of the groups of ``kind`` that ``user`` administers; ``None`` for the kind's pool
    managers (all)."""
    cache = _cache(user, "_pool_admin_ids")
    if kind in cache:
        return cache[kind]
    if not user.is_authenticated or not user.tenant_id or not user.is_active:
        result: list[int] | None = []
    elif is_pool_manager(user, kind):
        result = None
    else:
        result = list(
            PoolGroupUser.objects.filter(
                tenant_id=user.tenant_id, user_id=user.pk, is_admin=True, group__kind=kind
            ).values_list("group_id", flat=True)
        )
    cache[kind] = result
    return result


def is_group_admin(user: User, group_id: int | None, kind: str) -> bool:
    """Whether ``user`` administers group ``group_id`` of ``kind``. SECURITY: a manager of
    one kind is no admin of the other kind's groups, so callers pass the kind they handle."""
    ids = admin_group_ids(user, kind)
    return ids is None or (group_id is not None and group_id in ids)


def is_group_member(user: User, group_id: int | None, kind: str) -> bool:
    ids = member_group_ids(user, kind)
    return ids is None or (group_id is not None and group_id in ids)


def groups_with_rules() -> QuerySet:
    return PoolGroup.objects.prefetch_related(
        Prefetch("level_rules", queryset=PoolLevelRule.objects.select_related("level"))
    )


def visible_groups(user: User, kind: str) -> list[PoolGroup]:
    """The enabled groups of ``kind`` whose pool ``user`` may open, in menu order."""
    ids = member_group_ids(user, kind)
    qs = PoolGroup.objects.filter(tenant_id=user.tenant_id, kind=kind, is_enabled=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return list(qs)


def default_group(tenant_id: int, kind: str) -> PoolGroup | None:
    return PoolGroup.objects.filter(tenant_id=tenant_id, kind=kind, is_default=True).first()


def pool_base(*, actor: User, kind: str, group: PoolGroup | None = None) -> QuerySet:
    """The rows of ``kind`` lying in the pools ``actor`` may open (or in one group of them)."""
    model = subject_for(kind).model
    qs = visible_to(actor, model.objects.in_pool(), include_public=False)
    ids = member_group_ids(actor, kind)
    if ids is not None:
        # Members see their groups' pools; the visibility function already says so, the
        # filter keeps an owner-side scope (participants, managers) from adding rows.
        qs = qs.filter(pool_group_id__in=ids)
    if group is not None:
        qs = qs.filter(pool_group=group)
    return qs


def _hidden_keys(group: PoolGroup) -> frozenset[str]:
    keys = HIDDEN_FIELD_KEYS_BY_KIND.get(group.kind, frozenset())
    return frozenset(k for k in (group.hidden_fields or []) if k in keys)


def group_hidden_keys(user: User, group: PoolGroup) -> frozenset[str]:
    """The keys ``group`` hides from ``user`` while a row lies in its pool: nothing for the
    group's admins and the kind's pool managers (the pool's masking rule, pools.masking)."""
    if is_group_admin(user, group.pk, group.kind):
        return frozenset()
    return _hidden_keys(group)


def hidden_fields_for(user: User, customer) -> frozenset[str]:
    """The field keys ``user`` must not see on ``customer`` (or a lead): crm.masking, where
    the pool rule says nothing once it has an owner, nothing for the group's admins and the
    kind's pool managers."""
    return masking.hidden_fields(user, customer)


def hidden_fields_by_group(user: User, groups) -> dict[int, frozenset[str]]:
    """``{group id: hidden keys}`` for a pool list page (one computation per group, no
    query): what the pool's masking rule hides on the rows lying in each group."""
    return {group.pk: group_hidden_keys(user, group) for group in groups}


# ---------------------------------------------------------------- recycling forecast


@dataclass(frozen=True)
class Forecast:
    """When an owned customer (or lead) will be recycled and by which rule."""

    at: datetime.datetime
    rule: str  # "followup" | "deal" | a registered activity date ("opportunity")
    days: int
    kind: str  # the subject's kind, for the wording (pools.subjects)

    def days_left(self, now: datetime.datetime | None = None) -> int:
        now = now or timezone.now()
        return max(0, (self.at - now).days + (1 if (self.at - now).seconds else 0))

    @property
    def reason(self) -> str:
        if self.rule == "followup":
            return ngettext(
                "no follow-up for %(days)d day", "no follow-up for %(days)d days", self.days
            ) % {"days": self.days}
        if self.rule == "deal":
            return ngettext("no deal for %(days)d day", "no deal for %(days)d days", self.days) % {
                "days": self.days
            }
        # A rule on a date another app keeps (pools.hooks.register_activity_date).
        dated = activity_date(self.rule)
        return str(dated.reason(self.days)) if dated is not None else self.rule

    def describe(self, now: datetime.datetime | None = None) -> str:
        subject = subject_for(self.kind)
        left = self.days_left(now)
        if left <= 0:
            return subject.message("forecast_now", reason=self.reason)
        return subject.message("forecast", left, reason=self.reason)


def followup_reference(customer) -> datetime.datetime | None:
    """The later of its last follow-up and the moment its owner got it (悟空: claim time);
    an unknown ownership start counts from the creation (as pools.recycling does)."""
    times = [
        t for t in (customer.last_followup_at, customer.owned_since or customer.created_at) if t
    ]
    return max(times) if times else None


def due_for_recycling(*, actor: User, kind: str, within_days: int | None = None, now=None) -> list:
    """The actor's own customers (or leads, with ``kind="lead"``) that will be recycled
    soon: within each group's warning days (or ``within_days``), soonest first, each with
    ``.forecast`` set. PERF: one query for the groups (and one for their level rules), then
    per group with rules one for its rows and one per exemption hook, whatever the rows."""
    from pools import recycling

    now = now or timezone.now()
    subject = subject_for(kind)
    rows = []
    groups = groups_with_rules().filter(tenant_id=actor.tenant_id, kind=kind, is_enabled=True)
    for group in groups:
        horizon = within_days if within_days is not None else group.warn_days
        if not horizon:
            continue
        qs = recycling.candidates(group, now + datetime.timedelta(days=horizon)).filter(
            owner_id=actor.pk
        )
        found = list(qs.order_by("pk")[:200])
        exempt_ids = subject.exempt_ids(group, [row.pk for row in found])
        for row in found:
            f = subject.forecast(row, group, exempt=row.pk in exempt_ids)
            if f is not None:
                row.forecast = f
                rows.append(row)
    return sorted(rows, key=lambda row: row.forecast.at)
