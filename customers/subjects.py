"""The customer as a pool subject: what the pool engine (``pools.services``,
``pools.recycling``) needs to know of customers in the public pool (公海). Registered from
``CustomersConfig.ready()``.
"""

from __future__ import annotations

import datetime
import functools
import operator
from collections.abc import Sequence

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy, pgettext_lazy

from crm.models import User
from customers import policies
from customers.models import (
    Customer,
    CustomerParticipant,
    CustomerUserObjectPermission,
    OwnershipEvent,
)
from customers.services import ownership_change
from pools import hooks
from pools.models import PoolGroup
from pools.recycling import followup_rule_q, owned_before
from pools.selectors import Forecast, followup_reference, groups_with_rules
from pools.subjects import PoolSubject, register

# The dated activity of the rule "no new opportunity in N days" (悟空's rule type 2),
# registered by the opportunities app (pools.hooks.register_activity_date).
OPPORTUNITY = "opportunity"
_MISSING = object()


def _rule_q(
    followup_days: int | None,
    deal_days: int | None,
    at: datetime.datetime,
    opportunity_days: int | None = None,
) -> Q | None:
    """Owned customers that a rule recycles at time ``at``: days without a follow-up (the
    engine's rule), days without a deal (customers only), or days without a new
    opportunity (the later of the ownership start and the newest opportunity is that old;
    the candidates query annotates the newest opportunity's date)."""
    condition = followup_rule_q(followup_days, at)
    if deal_days:
        cutoff = at - datetime.timedelta(days=deal_days)
        q = owned_before(cutoff) & ~Q(deal_status=Customer.DealStatus.DEAL)
        condition = q if condition is None else condition | q
    dated = hooks.activity_date(OPPORTUNITY)
    if opportunity_days and dated is not None:
        cutoff = at - datetime.timedelta(days=opportunity_days)
        last = dated.annotation
        q = owned_before(cutoff) & (Q(**{f"{last}__isnull": True}) | Q(**{f"{last}__lte": cutoff}))
        condition = q if condition is None else condition | q
    return condition


def opportunity_days(group: PoolGroup, level_id: int | None) -> int | None:
    """Days without a new opportunity for a customer level in ``group`` (a level rule
    replaces the group's days, as for the other rules)."""
    for rule in group.level_rules.all():
        if rule.level_id == level_id:
            return rule.no_opportunity_days
    return group.recycle_no_opportunity_days


def uses_opportunity_rule(group: PoolGroup) -> bool:
    """Whether ``group`` recycles for missing new opportunities (and the date is known)."""
    if hooks.activity_date(OPPORTUNITY) is None:
        return False
    return bool(group.recycle_no_opportunity_days) or any(
        r.no_opportunity_days for r in group.level_rules.all()
    )


def _last_opportunity_at(customer) -> datetime.datetime | None:
    """The newest opportunity's date of ``customer``: annotated by the candidates query or
    ``forecasts_for``, else read (one query, the customer page)."""
    dated = hooks.activity_date(OPPORTUNITY)
    if dated is None:
        return None
    found = getattr(customer, dated.annotation, _MISSING)
    if found is _MISSING:
        found = (
            Customer.objects.filter(pk=customer.pk)
            .annotate(last=dated.latest())
            .values_list("last", flat=True)
            .first()
        )
        setattr(customer, dated.annotation, found)
    return found


# ---------------------------------------------------------------- recycling forecast


def rule_days(group: PoolGroup, level_id: int | None) -> tuple[int | None, int | None]:
    """(days without follow-up, days without deal) for a customer level in ``group``."""
    for rule in group.level_rules.all():
        if rule.level_id == level_id:
            return rule.no_followup_days, rule.no_deal_days
    return group.recycle_no_followup_days, group.recycle_no_deal_days


def forecast(customer, group: PoolGroup | None, *, exempt: bool = False) -> Forecast | None:
    """The recycling forecast of an owned customer under ``group``'s rules, or None when it
    will not be recycled (no owner, no rules, disabled group, or an exemption)."""
    if group is None or not group.is_enabled or customer.owner_id is None or exempt:
        return None
    if customer.deleted_at is not None or customer.pooled_at is not None:
        return None
    if group.exempt_signed and customer.lifecycle == "signed":
        return None
    if group.exempt_locked and customer.is_locked:
        return None
    followup_days, deal_days = rule_days(group, customer.level_id)
    candidates = []
    reference = followup_reference(customer)
    if followup_days and reference:
        candidates.append(
            Forecast(
                reference + datetime.timedelta(days=followup_days),
                "followup",
                followup_days,
                PoolGroup.Kind.CUSTOMER,
            )
        )
    owned = customer.owned_since or customer.created_at
    if deal_days and owned and customer.deal_status != "deal":
        candidates.append(
            Forecast(
                owned + datetime.timedelta(days=deal_days),
                "deal",
                deal_days,
                PoolGroup.Kind.CUSTOMER,
            )
        )
    days = opportunity_days(group, customer.level_id)
    if days and owned and hooks.activity_date(OPPORTUNITY) is not None:
        last = _last_opportunity_at(customer)
        reference = max(owned, last) if last else owned
        candidates.append(
            Forecast(
                reference + datetime.timedelta(days=days),
                OPPORTUNITY,
                days,
                PoolGroup.Kind.CUSTOMER,
            )
        )
    return min(candidates, key=lambda f: f.at) if candidates else None


def customer_forecast(customer) -> Forecast | None:
    """The forecast for one customer (the customer page); a few small queries."""
    if customer.pool_group_id is None or customer.owner_id is None:
        return None
    group = groups_with_rules().filter(pk=customer.pool_group_id).first()
    exempt = hooks.is_exempt(customer) if group and group.exempt_with_opportunity else False
    return forecast(customer, group, exempt=exempt)


def forecasts_for(customers) -> dict[int, Forecast]:
    """Forecasts of a page of customers: one query for the groups and their level rules,
    one per exemption hook for the page's ids."""
    owned = [c for c in customers if c.owner_id and c.pool_group_id and c.pooled_at is None]
    if not owned:
        return {}
    groups = {g.pk: g for g in groups_with_rules().filter(pk__in={c.pool_group_id for c in owned})}
    exempt_ids = hooks.exempt_ids(Customer, [c.pk for c in owned])
    dated = hooks.activity_date(OPPORTUNITY)
    if dated is not None and any(uses_opportunity_rule(g) for g in groups.values()):
        # One query for the page's newest opportunity dates.
        last = dict(
            Customer.objects.filter(pk__in=[c.pk for c in owned])
            .annotate(last=dated.latest())
            .values_list("pk", "last")
        )
        for customer in owned:
            setattr(customer, dated.annotation, last.get(customer.pk))
    result = {}
    for customer in owned:
        group = groups.get(customer.pool_group_id)
        f = forecast(
            customer,
            group,
            exempt=bool(group and group.exempt_with_opportunity and customer.pk in exempt_ids),
        )
        if f is not None:
            result[customer.pk] = f
    return result


class CustomerSubject(PoolSubject):
    kind = "customer"
    manage_permission = "pool.manage"
    pool_url = "/pools/"
    event_field = "customer"
    warn_url = "/"
    pooled_fields = {"is_locked": False}
    level_rules = True
    settings_pages = {
        "list": "pools:group-list",
        "create": "pools:group-create",
        "edit": "pools:group-edit",
        "delete": "pools:group-delete",
        "nav": "pool-groups",
    }
    messages = {
        "empty": _("Select at least one customer."),
        "lost_unnamed": ngettext_lazy(
            "%(count)d customer does not exist or someone else got it first.",
            "%(count)d customers do not exist or someone else got them first.",
            "count",
        ),
        "lost": ngettext_lazy(
            "Someone else got %(count)d customer first: %(names)s",
            "Someone else got %(count)d customers first: %(names)s",
            "count",
        ),
        "not_visible": ngettext_lazy(
            "%(count)d selected customer is not in a pool you may use; nothing was changed.",
            "%(count)d selected customers are not in a pool you may use; nothing was changed.",
            "count",
        ),
        "admin_only": _("Only pool admins assign customers of %(group)s; nothing was claimed."),
        "daily_limit": _(
            "You have claimed %(done)d customers from %(group)s today; the daily "
            "limit is %(limit)d, so you may claim %(room)d more. Nothing was claimed."
        ),
        "holding_self": _(
            "You hold %(held)d customers; the limit of %(group)s is %(limit)d, so you "
            "may take %(room)d more. Nothing was claimed."
        ),
        "holding_other": _(
            "%(user)s holds %(held)d customers; the limit of %(group)s is %(limit)d, "
            "so they may take %(room)d more. Nothing was assigned."
        ),
        "holding_transfer": _(
            "%(user)s holds %(held)d customers; the limit of %(group)s is %(limit)d, "
            "so they may take %(room)d more. Nothing was transferred."
        ),
        "holding_import": _(
            "Not imported: %(user)s holds %(held)d customers; the limit of %(group)s is %(limit)d."
        ),
        "inactive": _("A deactivated user cannot receive customers: %(names)s"),
        "reason": _("Choose why the customers go back to the pool."),
        "return_not_visible": _(
            "Some selected customers do not exist or are not visible to you; nothing was changed."
        ),
        "not_editable": _(
            "You may not return these customers (not yours, or locked): %(names)s. "
            "Nothing was changed."
        ),
        "not_empty": ngettext_lazy(
            "%(count)d customer belongs to this group; move it to another group first.",
            "%(count)d customers belong to this group; move them to another group first.",
            "count",
        ),
        "kind": _("Choose a pool group of the public pool."),
        "recycled": ngettext_lazy(
            "%(count)d customer returned to the pool: %(names)s",
            "%(count)d customers returned to the pool: %(names)s",
            "count",
        ),
        "warned": ngettext_lazy(
            "%(count)d customer falls into the pool soon (first in %(days)d days): %(names)s",
            "%(count)d customers fall into the pool soon (first in %(days)d days): %(names)s",
            "count",
        ),
        "forecast": ngettext_lazy(
            "Falls into the pool in %(count)d day (%(reason)s)",
            "Falls into the pool in %(count)d days (%(reason)s)",
            "count",
        ),
        "forecast_now": _("Falls into the pool at the next recycling run (%(reason)s)"),
    }

    default_group_name = pgettext_lazy("pool group", "Default pool")
    row_fields = (
        "id",
        "tenant_id",
        "name",
        "owner_id",
        "level_id",
        "lifecycle",
        "deal_status",
        "is_locked",
        "last_followup_at",
        "owned_since",
        "created_at",
        "pooled_at",
        "deleted_at",
        "pool_group_id",
    )

    @property
    def model(self):
        return Customer

    @property
    def event_model(self):
        return OwnershipEvent

    def live(self, tenant_id: int) -> QuerySet:
        return self.model.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True)

    def change_owner(self, *, rows, **kwargs) -> list:
        return ownership_change(customers=rows, **kwargs)

    def event(self, row, **fields):
        """The engine's own events (moves between groups, initialisation) carry the
        customer's lifecycle, as ``ownership_change``'s do (the increment report filters
        by it)."""
        fields.setdefault("lifecycle", row.lifecycle)
        return super().event(row, **fields)

    def holding(self, user: User, group) -> int:
        qs = self.live(user.tenant_id).filter(owner_id=user.pk)
        if not group.holding_counts_signed:
            qs = qs.exclude(lifecycle=self.model.Lifecycle.SIGNED)
        return qs.count()

    def counts_in_holding(self, row, group) -> bool:
        """Whether ``holding`` counts ``row`` once its receiver owns it."""
        if row.deleted_at is not None:
            return False
        return group.holding_counts_signed or row.lifecycle != self.model.Lifecycle.SIGNED

    def exempt_ids(self, group, ids: Sequence[int]) -> set[int]:
        """Customers with an open opportunity (the ``pools.hooks`` exemptions), where the
        group exempts them."""
        return hooks.exempt_ids(Customer, ids) if group.exempt_with_opportunity else set()

    def forecast(self, row, group, *, exempt: bool = False):
        return forecast(row, group, exempt=exempt)

    def candidates(self, group, at: datetime.datetime) -> QuerySet:
        """Owned customers of ``group`` due at ``at``: one branch per customer level with its
        own days, one for the rest; signed, locked and ``pools.hooks`` exemptions (an open
        opportunity) left out where the group says so."""
        branches = []
        overridden = []
        for rule in group.level_rules.all():
            overridden.append(rule.level_id)
            q = _rule_q(rule.no_followup_days, rule.no_deal_days, at, rule.no_opportunity_days)
            if q is not None:
                branches.append(Q(level_id=rule.level_id) & q)
        default = _rule_q(
            group.recycle_no_followup_days,
            group.recycle_no_deal_days,
            at,
            group.recycle_no_opportunity_days,
        )
        if default is not None:
            rest = Q(level_id__isnull=True) | ~Q(level_id__in=overridden) if overridden else Q()
            branches.append(rest & default)
        qs = Customer.objects.filter(
            tenant_id=group.tenant_id,
            pool_group=group,
            owner__isnull=False,
            pooled_at__isnull=True,
            deleted_at__isnull=True,
        )
        if not branches or not group.is_enabled:
            return qs.none()
        if uses_opportunity_rule(group):
            dated = hooks.activity_date(OPPORTUNITY)
            qs = qs.annotate(**{dated.annotation: dated.latest()})
        qs = qs.filter(functools.reduce(operator.or_, branches))
        if group.exempt_signed:
            qs = qs.exclude(lifecycle=Customer.Lifecycle.SIGNED)
        if group.exempt_locked:
            qs = qs.exclude(is_locked=True)
        if group.exempt_with_opportunity:
            exemption = hooks.exemption_q()
            if exemption is not None:
                qs = qs.exclude(exemption)
        return qs

    def recycle_rule(self, row, group) -> tuple[str, int]:
        """The forecast names the rule that made ``row`` due (the earliest one)."""
        f = forecast(row, group)
        return (f.rule, f.days) if f else super().recycle_rule(row, group)

    def clear_when_pooled(self, rows: list) -> None:
        """A customer going into the pool leaves its team behind (participants and their
        edit grants): they belonged to the previous ownership."""
        ids = [c.pk for c in rows]
        CustomerParticipant.objects.filter(customer_id__in=ids).delete()
        CustomerUserObjectPermission.objects.filter(content_object_id__in=ids).delete()

    def label(self, row) -> str:
        return row.name

    def may_return(self, actor: User, row) -> bool:
        """customers.policies.may_return: not a deleted customer; managers may not return a
        locked one."""
        return policies.may_return(actor, row)


CUSTOMER = register(CustomerSubject())
