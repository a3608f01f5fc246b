"""线索自动分配: ordered rules hand new, imported, returned and pooled leads to users in
turn (round robin). Entry point for the other lead services: ``auto_assign``; the settings
services of the rules (``rule_save``, ``rule_delete``, ``rule_move``) and the periodic job's
body (``assign_pooled``) live here too.

How a lead finds its user: the enabled rules whose flag for the trigger is on are tried in
``sort_order``; the first whose conditions all match (an empty condition matches anything;
a rule with a pool only takes leads lying in that pool) and that has a user able to take the
lead wins. Able means: not the lead's previous owner (a returned or recycled lead does not
go back to who gave it up), active, fewer leads handed out by this rule today than
``daily_limit`` (counted from the AUTO_ASSIGNED lead events of the rule), fewer open leads
owned than ``holding_limit`` (0 = no bound). Within a rule the users take turns: the
``cursor`` is the position after the user who got the last lead.

Concurrency: every candidate rule row is locked (``select_for_update``, in id order, one
statement) before its cursor and the day's counts are read, so that two assignments at once
keep the turn order fair and the bounds exact. Lead rows are locked by the callers
(creation, import, return) before they call in; the periodic job locks rules first and then
skips lead rows somebody else holds (``skip_locked``), so the two orders never wait on each
other. On SQLite every write transaction starts with BEGIN IMMEDIATE, which serialises them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Max, Prefetch
from django.utils.translation import gettext as _

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import Option, OptionKind, User
from crm.services import require_same_tenant
from leads import activity_actions as actions
from leads.models import AssignmentRule, AssignmentRuleUser, Campaign, Lead, LeadEvent
from leads.services import lead_ownership_change
from pools.models import PoolGroup
from pools.services import today_start

TRIGGERS = ("create", "import", "return", "periodic")
TRIGGER_FLAGS = {
    "create": "on_create",
    "import": "on_import",
    "return": "on_return",
    "periodic": "periodic",
}
# The periodic job reads the pooled leads in batches of this many (one transaction each).
BATCH = 500
# Ids per query when the engine reads the leads it was given.
CHUNK = 2000

RULE_FIELDS = [
    "name",
    "is_enabled",
    "source",
    "campaign",
    "province",
    "city",
    "pool_group",
    "on_create",
    "on_import",
    "on_return",
    "periodic",
    "daily_limit",
    "holding_limit",
]


# ---------------------------------------------------------------- the engine


def same_place(a: str, b: str, *, province: bool = False) -> bool:
    """Whether two place names are the same place, written in full or short (浙江 / 浙江省,
    杭州 / 杭州市): imported leads carry free text, rules and forms the region table's names."""
    from crm.regions import province_named

    a, b = (a or "").strip(), (b or "").strip()
    if a == b:
        return True
    if province:
        return bool(province_named(a)) and province_named(a) == province_named(b)
    suffixes = ("市", "地区", "自治州", "盟")
    short = [next((x[: -len(s)] for s in suffixes if x.endswith(s)), x) for x in (a, b)]
    return bool(short[0]) and short[0] == short[1]


@dataclass
class _Rule:
    """A locked rule with its members and the counts the bounds need, kept up to date while
    one call hands out leads."""

    rule: AssignmentRule
    members: list[AssignmentRuleUser]
    today: dict[int, int] = field(default_factory=dict)  # user id -> given by this rule today
    given: bool = False  # the cursor moved

    def matches(self, lead: Lead) -> bool:
        rule = self.rule
        if rule.source_id and lead.source_id != rule.source_id:
            return False
        if rule.campaign_id and lead.campaign_id != rule.campaign_id:
            return False
        if rule.province and not same_place(lead.province, rule.province, province=True):
            return False
        if rule.city and not same_place(lead.city, rule.city):
            return False
        # A rule with a pool only takes leads lying in that pool.
        return not rule.pool_group_id or (
            lead.pooled_at is not None and lead.pool_group_id == rule.pool_group_id
        )

    def can_take(self, user: User, holding: dict[int, int]) -> bool:
        rule = self.rule
        if not user.is_active or user.tenant_id != rule.tenant_id:
            return False
        if rule.daily_limit and self.today.get(user.pk, 0) >= rule.daily_limit:
            return False
        return not rule.holding_limit or holding.get(user.pk, 0) < rule.holding_limit

    def next_user(self, holding: dict[int, int], exclude: int | None = None) -> User | None:
        """The first user able to take a lead, in turn after the cursor, other than
        ``exclude`` (the lead's previous owner: a returned or recycled lead never goes back
        to who gave it up); moves the cursor past them and counts the lead."""
        members = self.members
        if not members:
            return None
        start = next((i for i, m in enumerate(members) if m.position >= self.rule.cursor), 0)
        for k in range(len(members)):
            member = members[(start + k) % len(members)]
            if member.user_id != exclude and self.can_take(member.user, holding):
                self.rule.cursor = member.position + 1
                self.given = True
                self.today[member.user_id] = self.today.get(member.user_id, 0) + 1
                holding[member.user_id] = holding.get(member.user_id, 0) + 1
                return member.user
        return None

    def exhausted(self, holding: dict[int, int]) -> bool:
        return not any(self.can_take(m.user, holding) for m in self.members)


def _lock_rules(tenant_id: int, trigger: str) -> list[_Rule]:
    """The enabled rules for ``trigger``, locked in id order, with members and today's
    counts. PERF: three queries whatever the number of rules and users."""
    rules = list(
        AssignmentRule.objects.select_for_update()
        .filter(tenant_id=tenant_id, is_enabled=True, **{TRIGGER_FLAGS[trigger]: True})
        .order_by("pk")
    )
    if not rules:
        return []
    rules.sort(key=lambda r: (r.sort_order, r.pk))
    members = defaultdict(list)
    for member in (
        AssignmentRuleUser.objects.filter(tenant_id=tenant_id, rule__in=rules)
        .select_related("user")
        .order_by("position", "pk")
    ):
        members[member.rule_id].append(member)
    today = defaultdict(dict)
    for row in (
        LeadEvent.objects.filter(
            tenant_id=tenant_id,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            rule__in=[r for r in rules if r.daily_limit],
            created_at__gte=today_start(),
        )
        .values("rule_id", "to_user_id")
        .annotate(n=Count("id"))
    ):
        today[row["rule_id"]][row["to_user_id"]] = row["n"]
    return [_Rule(r, members[r.pk], today[r.pk]) for r in rules]


def _holding(tenant_id: int, rules: list[_Rule]) -> dict[int, int]:
    """Open leads owned per user of the rules with a holding limit (one query)."""
    user_ids = {m.user_id for r in rules if r.rule.holding_limit for m in r.members}
    if not user_ids:
        return {}
    return dict(
        Lead.objects.filter(tenant_id=tenant_id, owner_id__in=user_ids)
        .open()
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )


def _assign(
    *, leads: Sequence[Lead | int], trigger: str, actor: User | None, skip_locked: bool = False
) -> tuple[dict[int, User], bool]:
    """The engine: ({lead id: user}, whether every rule is out of users)."""
    if trigger not in TRIGGERS:
        raise ValueError(trigger)
    given = {lead.pk if isinstance(lead, Lead) else int(lead): lead for lead in leads}
    if not given:
        return {}, False
    tenant_id = next(
        (lead.tenant_id for lead in given.values() if isinstance(lead, Lead)),
        getattr(actor, "tenant_id", None),
    )
    if tenant_id is None:
        raise ValueError("auto_assign needs Lead rows or an actor to know the tenant")
    rules = _lock_rules(tenant_id, trigger)
    if not rules:
        return {}, True
    # The leads as they are now (the caller's copies may be older), locked; read in chunks
    # (an import hands over a whole batch of ids).
    ids = sorted(given)
    current: list[Lead] = []
    for start in range(0, len(ids), CHUNK):
        rows = Lead.objects.filter(
            tenant_id=tenant_id, pk__in=ids[start : start + CHUNK], owner__isnull=True
        ).open()
        rows = rows.select_for_update(skip_locked=skip_locked, of=("self",))
        current.extend(rows.select_related("pool_group").order_by("pk"))
    holding = _holding(tenant_id, rules)

    assigned: dict[int, User] = {}
    batches: dict[tuple[int, int, int | None], list[Lead]] = defaultdict(list)
    by_key: dict[tuple[int, int, int | None], tuple[_Rule, User, PoolGroup | None]] = {}
    for row in current:
        for candidate in rules:
            if not candidate.matches(row):
                continue
            user = candidate.next_user(holding, exclude=row.previous_owner_id)
            if user is None:
                continue  # no one left in this rule: the next rule may take it
            # Hand the caller's own object over, so that it sees the new owner.
            lead = given[row.pk] if isinstance(given[row.pk], Lead) else row
            lead.owner_id = None
            key = (candidate.rule.pk, user.pk, row.pool_group_id)
            batches[key].append(lead)
            by_key[key] = (candidate, user, row.pool_group)
            assigned[row.pk] = user
            break
    for key, batch in batches.items():
        candidate, user, group = by_key[key]
        lead_ownership_change(
            actor=actor,
            leads=batch,
            to_user=user,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            note=candidate.rule.name,
            group=group,
            rule=candidate.rule,
        )
        activity.activity_record_many(
            actor=actor,
            targets=batch,
            action=actions.LEAD_AUTO_ASSIGNED,
            changes_for=lambda _lead, user=user: {"owner": ["", user.get_full_name()]},
            note=candidate.rule.name,
        )
    moved = [r.rule for r in rules if r.given]
    if moved:
        AssignmentRule.objects.bulk_update(moved, ["cursor"])
    return assigned, all(r.exhausted(holding) for r in rules)


def auto_assign(
    *, leads: Sequence[Lead], trigger: str, actor: User | None = None
) -> dict[int, User]:
    """Give each unowned open lead of ``leads`` to a user by the first matching enabled rule
    that applies to ``trigger``; returns {lead id: user} for the leads it assigned. Leads no
    rule takes stay where they are (closed, converted and owned leads are never touched).
    Writes an AUTO_ASSIGNED lead event (with the rule and the lead's pool) and an activity
    entry per lead, notifies each user once per batch. Locks what it changes; call inside
    the caller's transaction (it opens one of its own otherwise)."""
    with transaction.atomic():
        assigned, _exhausted = _assign(leads=leads, trigger=trigger, actor=actor)
    return assigned


def assign_pooled(tenant_id: int, *, batch: int | None = None) -> int:
    """The periodic job's body: offer the tenant's ownerless open leads lying in a lead pool
    to the rules with the periodic flag, ``batch`` at a time (one transaction each, oldest
    first). Returns how many were assigned. Idempotent, and safe to run twice at once (the
    second run waits on the rule locks, then finds the leads owned)."""
    batch = batch or BATCH
    rules = AssignmentRule.objects.filter(tenant_id=tenant_id, is_enabled=True, periodic=True)
    pools = set(rules.values_list("pool_group_id", flat=True))
    if not pools:
        return 0
    pending = Lead.objects.filter(
        tenant_id=tenant_id, pooled_at__isnull=False, owner__isnull=True
    ).open()
    if None not in pools:  # PERF: every rule names its pool: read only those pools
        pending = pending.filter(pool_group_id__in=pools)
    total, after = 0, 0
    while True:
        ids = list(pending.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        after = ids[-1]
        with transaction.atomic():
            rows = list(Lead.objects.filter(tenant_id=tenant_id, pk__in=ids).order_by("pk"))
            assigned, exhausted = _assign(
                leads=rows, trigger="periodic", actor=None, skip_locked=True
            )
        total += len(assigned)
        if exhausted:  # every user of every rule is at a bound: nothing more to hand out
            return total


# ---------------------------------------------------------------- settings (lead.manage)


def _refuse(message, code: str):
    raise ServiceError(message, code=code)


def _require_manager(actor: User) -> None:
    if not actor.can("lead.manage"):
        raise PermissionRefusedError()


def _limit(value, label) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        _refuse(_("%(field)s must be a whole number, 0 or more.") % {"field": label}, "limit")
    return number


def _clean_rule_data(actor: User, data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in RULE_FIELDS}
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            _refuse(_("Enter the rule's name."), "required")
        if len(name) > 50:
            _refuse(_("A rule name has at most 50 characters."), "too_long")
        values["name"] = name
    for key in ("province", "city"):
        if key in values:
            values[key] = (values[key] or "").strip()[:20]
    source = values.get("source")
    if source is not None:
        require_same_tenant(actor, source)
        if not isinstance(source, Option) or source.kind != OptionKind.CUSTOMER_SOURCE:
            _refuse(_("Choose a lead source from the source list."), "option")
    campaign = values.get("campaign")
    if campaign is not None:
        require_same_tenant(actor, campaign)
        if not isinstance(campaign, Campaign):
            _refuse(_("Choose a campaign."), "campaign")
    group = values.get("pool_group")
    if group is not None:
        require_same_tenant(actor, group)
        if not isinstance(group, PoolGroup) or group.kind != PoolGroup.Kind.LEAD:
            _refuse(_("Choose a lead pool."), "pool_group")
    for key in ("daily_limit", "holding_limit"):
        if key in values:
            values[key] = _limit(values[key], AssignmentRule._meta.get_field(key).verbose_name)
    return values


def _clean_users(actor: User, users: Sequence[User]) -> list[User]:
    ordered: list[User] = []
    for user in users:
        if user.pk not in {u.pk for u in ordered}:
            ordered.append(user)
    if not ordered:
        _refuse(_("Choose at least one user to hand the leads to."), "no_users")
    require_same_tenant(actor, *ordered)
    inactive = [u.get_full_name() for u in ordered if not u.is_active]
    if inactive:
        _refuse(
            _("%(names)s is deactivated and cannot receive leads; remove them from the rule.")
            % {"names": "、".join(inactive)},
            "inactive",
        )
    return ordered


@transaction.atomic
def rule_save(
    *,
    actor: User,
    data: dict,
    rule: AssignmentRule | None = None,
    users: Sequence[User] | None = None,
) -> AssignmentRule:
    """Create or change an assignment rule: its conditions, triggers and bounds (``data``,
    keys of RULE_FIELDS; relations as objects) and its users in turn order (a new rule
    needs them; ``None`` keeps an existing rule's). A new rule goes last. The rule row is
    locked while it changes, so a running assignment sees the old or the new rule whole."""
    _require_manager(actor)
    require_same_tenant(actor, rule)
    values = _clean_rule_data(actor, data)
    creating = rule is None
    if creating and not values.get("name"):
        _refuse(_("Enter the rule's name."), "required")
    if creating and users is None:
        users = []
    ordered = _clean_users(actor, users) if users is not None else None
    name = values.get("name", rule.name if rule else "")
    clash = AssignmentRule.objects.filter(tenant_id=actor.tenant_id, name=name)
    if rule is not None:
        clash = clash.exclude(pk=rule.pk)
    taken = _("An assignment rule with this name exists already.")
    if clash.exists():
        _refuse(taken, "duplicate")
    if creating:
        last = AssignmentRule.objects.filter(tenant_id=actor.tenant_id).aggregate(
            m=Max("sort_order")
        )["m"]
        rule = AssignmentRule(tenant_id=actor.tenant_id, sort_order=0 if last is None else last + 1)
        before = {}
    else:
        rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        before = {**activity.snapshot(rule, RULE_FIELDS), "users": _member_names(rule)}
    for key, value in values.items():
        setattr(rule, key, value)
    with refused_if_taken(taken):
        rule.save()
    if ordered is not None:
        old = [m.user_id for m in rule.members.order_by("position", "pk")]
        if old != [u.pk for u in ordered]:
            AssignmentRuleUser.objects.filter(rule=rule).delete()
            AssignmentRuleUser.objects.bulk_create(
                AssignmentRuleUser(tenant_id=actor.tenant_id, rule=rule, user=u, position=i)
                for i, u in enumerate(ordered)
            )
            if rule.cursor > len(ordered):
                rule.cursor = 0
                rule.save(update_fields=["cursor"])
    after = {**activity.snapshot(rule, RULE_FIELDS), "users": _member_names(rule)}
    activity.activity_record(
        actor=actor,
        target=rule,
        action=actions.RULE_SAVED,
        changes=activity.diff(before, after),
    )
    return rule


def _member_names(rule: AssignmentRule) -> str:
    return "、".join(
        m.user.get_full_name()
        for m in rule.members.select_related("user").order_by("position", "pk")
    )


@transaction.atomic
def rule_delete(*, actor: User, rule: AssignmentRule) -> None:
    """Delete a rule; the leads it assigned keep their owner and their events (which lose
    the link to the rule)."""
    _require_manager(actor)
    require_same_tenant(actor, rule)
    activity.activity_record(actor=actor, target=rule, action=actions.RULE_DELETED)
    rule.delete()


@transaction.atomic
def rule_move(*, actor: User, rule: AssignmentRule, offset: int) -> AssignmentRule:
    """Move a rule up (-1) or down (+1) in the order rules are tried."""
    _require_manager(actor)
    require_same_tenant(actor, rule)
    rules = list(
        AssignmentRule.objects.filter(tenant_id=actor.tenant_id).order_by("sort_order", "pk")
    )
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    target = index + offset
    if 0 <= target < len(rules):
        rules[index], rules[target] = rules[target], rules[index]
        for i, r in enumerate(rules):
            r.sort_order = i
        AssignmentRule.objects.bulk_update(rules, ["sort_order"])
        rule.sort_order = target
        activity.activity_record(
            actor=actor,
            target=rule,
            action=actions.RULE_SAVED,
            changes={"sort_order": [str(index + 1), str(target + 1)]},
        )
    return rule


# ---------------------------------------------------------------- selectors


def rule_list(*, actor: User) -> list[AssignmentRule]:
    """The tenant's rules in order with their users (``member_list``) and how many leads
    each handed out today (``assigned_today``). PERF: three queries."""
    rules = list(
        AssignmentRule.objects.filter(tenant_id=actor.tenant_id)
        .select_related("source", "campaign", "pool_group")
        .prefetch_related(
            Prefetch(
                "members",
                queryset=AssignmentRuleUser.objects.select_related("user").order_by(
                    "position", "pk"
                ),
            )
        )
        .order_by("sort_order", "pk")
    )
    counts = dict(
        LeadEvent.objects.filter(
            tenant_id=actor.tenant_id,
            kind=LeadEvent.Kind.AUTO_ASSIGNED,
            rule__isnull=False,
            created_at__gte=today_start(),
        )
        .values("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    for rule in rules:
        rule.member_list = [m.user for m in rule.members.all()]
        rule.assigned_today = counts.get(rule.pk, 0)
    return rules


def trigger_labels(rule: AssignmentRule) -> list[str]:
    return [
        str(AssignmentRule._meta.get_field(flag).verbose_name)
        for flag in TRIGGER_FLAGS.values()
        if getattr(rule, flag)
    ]


__all__ = [
    "TRIGGERS",
    "assign_pooled",
    "auto_assign",
    "rule_delete",
    "rule_list",
    "rule_move",
    "rule_save",
]
