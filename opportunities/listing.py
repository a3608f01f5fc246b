"""The lists of opportunities (商机列表 and the kanban): their views 我负责的 / 我参与的 / 下属 /
全部 / 7天未跟进 / 本月预计成交, sorts and chips, and what a page's rows carry for the template.
Every list is ``crm.visibility.visible_to``'s rows (its conditions, opportunity_base): a row
nobody may see is never listed.
"""

from __future__ import annotations

import datetime
import functools
import operator

from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from crm.models import User
from crm.visibility import owner_scope, visibility_conditions
from opportunities.models import Opportunity, OpportunityParticipant

STALE_DAYS = 7

# The list views, named as users name them (DESIGN §5), in menu order.
VIEWS = [
    ("mine", gettext_lazy("Mine")),
    ("participated", gettext_lazy("Participated")),
    ("team", pgettext_lazy("opportunity list", "Team")),
    ("all", gettext_lazy("All")),
    ("stale", gettext_lazy("Not followed for 7 days")),
    ("closing", gettext_lazy("Closing this month")),
]
VIEW_KEYS = {key for key, _label in VIEWS}
# The views the kanban offers (the work views; the date views are its filters).
KANBAN_VIEWS = [v for v in VIEWS if v[0] in ("mine", "participated", "team", "all")]

SORTS = {
    "created": ("-created_at", "-id"),
    "amount": ("-amount", "-id"),
    "amount_asc": ("amount", "id"),
    "close": (F("expected_close_date").asc(), "id"),
    "close_desc": (F("expected_close_date").desc(), "-id"),
    "stage": ("stage__sort", "stage_id", "-id"),
    "last_followup": (F("last_followup_at").desc(nulls_last=True), "-id"),
    "name": ("name", "id"),
}
SORT_LABELS = {
    "created": gettext_lazy("Created"),
    "amount": gettext_lazy("Amount, largest first"),
    "amount_asc": gettext_lazy("Amount, smallest first"),
    "close": gettext_lazy("Expected close, soonest first"),
    "close_desc": gettext_lazy("Expected close, latest first"),
    "stage": gettext_lazy("Sales stage"),
    "last_followup": gettext_lazy("Last follow-up"),
    "name": gettext_lazy("Opportunity name"),
}
# The sortable columns of the list: column → (label, sort, reverse sort, direction).
SORT_COLUMNS = {
    "name": (gettext_lazy("Opportunity"), "name", None, "asc"),
    "amount": (gettext_lazy("Amount"), "amount", "amount_asc", "desc"),
    "stage": (gettext_lazy("Sales stage"), "stage", None, "asc"),
    "close": (gettext_lazy("Expected close"), "close", "close_desc", "asc"),
    "last_followup": (gettext_lazy("Last follow-up"), "last_followup", None, "desc"),
    "created": (gettext_lazy("Created"), "created", None, "desc"),
}

# PERF: the columns a row of the list, the kanban or the export shows, in one query.
LIST_JOINS = ("owner", "customer", "stage")


def month_bounds(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and the last day of ``today``'s month (pass the tenant's today)."""
    first = today.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return first, following - datetime.timedelta(days=1)


def participation_ids(actor: User) -> list[int] | QuerySet:
    """The ids of the opportunities ``actor`` is a team member of: a list when there are at
    most customers.selectors.LITERAL_IDS of them (one small query, read once per request and
    kept on the user), else the subquery.

    PERF: ``owner_id IN (…) OR id IN (SELECT …)`` keeps PostgreSQL off every index (the
    subquery is a filter run row by row over a scan of the tenant: a rep's capped count of
    10,000 took 25-53 ms on a 200,000-opportunity tenant); with literal ids the OR is two
    index conditions, and the views read apart (visible_parts) use the owner indexes."""
    from customers.selectors import LITERAL_IDS

    cached = getattr(actor, "_opportunity_participation_ids", None)
    if cached is None:
        rows = OpportunityParticipant.objects.filter(
            tenant_id=actor.tenant_id, user_id=actor.pk
        ).values_list("opportunity_id", flat=True)
        ids = list(rows.order_by()[: LITERAL_IDS + 1])
        cached = ids if len(ids) <= LITERAL_IDS else rows
        actor._opportunity_participation_ids = cached
    return cached


def _tenant_rows(actor: User) -> QuerySet:
    """The tenant's opportunities, none for a user who may see nothing (visible_to's own
    guard: anonymous, inactive, no tenant)."""
    if not actor.is_authenticated or not actor.is_active or actor.tenant_id is None:
        return Opportunity.objects.none()
    return Opportunity.objects.filter(tenant_id=actor.tenant_id)


def visibility_parts(actor: User) -> dict[str, Q] | None:
    """visible_to's conditions for opportunities (crm.visibility.visibility_conditions:
    owned inside the data scope, participated) with a department scope's owners and the
    participations as literal ids; ``None`` for the data scope ``all``."""
    owner_scope(actor).inline_ids()
    conditions = visibility_conditions(actor, Opportunity)
    if conditions is None:
        return None
    conditions["participated"] = Q(pk__in=participation_ids(actor))
    return conditions


def _view_q(view: str, today: datetime.date) -> Q:
    """The condition of a date view (7天未跟进, 本月预计成交) besides visibility."""
    if view == "stale":
        cutoff = timezone.now() - datetime.timedelta(days=STALE_DAYS)
        return Q(status=Opportunity.Status.OPEN) & (
            Q(last_followup_at__lt=cutoff) | Q(last_followup_at__isnull=True, created_at__lt=cutoff)
        )
    if view == "closing":
        first, last = month_bounds(today)
        return Q(
            status=Opportunity.Status.OPEN,
            expected_close_date__gte=first,
            expected_close_date__lte=last,
        )
    return Q()


def view_parts(*, actor: User, view: str) -> list[QuerySet]:
    """The rows of one view as disjoint querysets without an OR (the same rows as
    opportunity_base): one per visibility condition for 全部 / 7天未跟进 / 本月预计成交 of a
    user whose data scope is not ``all``, else the view itself. PERF: each part is a plain
    AND that an owner-leading index answers (counts, the kanban's columns)."""
    conditions = visibility_parts(actor) if view in ("all", "stale", "closing") else None
    if conditions is None:
        return [opportunity_base(actor=actor, view=view)]
    rows = _tenant_rows(actor).filter(_view_q(view, actor.tenant.today()))
    owned, participated = conditions["owned"], conditions["participated"]
    if participation_ids(actor) == []:
        return [rows.filter(owned)]
    return [rows.filter(owned), rows.filter(participated).exclude(owned)]


def opportunity_base(*, actor: User, view: str = "mine") -> QuerySet:
    """The opportunities of one list view that ``actor`` may see (404 for an unknown view).
    我负责的 / 我参与的 / 下属 / 全部 hold every status (the status filter narrows them);
    7天未跟进 and 本月预计成交 are work lists of open opportunities.

    The same rows as ``visible_to(actor, …)`` narrowed to the view. PERF: 我负责的, 我参与的 and
    下属 lie inside what the actor sees (their own; their participations; owners inside the
    data scope), so they are read without visible_to's OR, each by its own index; the others
    keep the OR, with literal ids (visibility_parts)."""
    if view not in VIEW_KEYS:
        raise Http404
    rows = _tenant_rows(actor)
    if view == "mine":
        # The actor is always inside their own data scope.
        return rows.filter(owner_id=actor.pk)
    if view == "participated":
        return rows.filter(pk__in=participation_ids(actor))
    if view == "team":
        scope = owner_scope(actor)
        if scope.is_all:
            return rows.filter(owner__isnull=False).exclude(owner_id=actor.pk)
        # PERF: nobody else in the scope (a rep's own scope) is an empty list without a query.
        others = scope.others()
        if not others:
            return rows.none()
        return rows.filter(owner_id__in=others)
    conditions = visibility_parts(actor)
    if conditions is not None:
        rows = rows.filter(functools.reduce(operator.or_, conditions.values()))
    return rows.filter(_view_q(view, actor.tenant.today()))


def opportunity_list(*, queryset: QuerySet, sort: str = "created") -> QuerySet:
    """``queryset`` page-ready: its joins, in the order ``sort``."""
    return queryset.select_related(*LIST_JOINS).order_by(*SORTS.get(sort, SORTS["created"]))


def capped_parts_count(parts: list[QuerySet]) -> tuple[int, bool]:
    """(count, capped) of the rows of disjoint ``parts`` (view_parts): one query, the
    UNION ALL of the parts' ids counted up to customers.selectors.COUNT_CAP."""
    from customers.selectors import COUNT_CAP

    ids = [part.order_by().values("pk") for part in parts]
    qs = ids[0].union(*ids[1:], all=True) if len(ids) > 1 else ids[0]
    n = qs[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def view_counts(*, actor: User) -> dict[str, tuple[int, bool]]:
    """(count, capped) of every view (capped at customers.selectors.COUNT_CAP)."""
    return {key: capped_parts_count(view_parts(actor=actor, view=key)) for key, _l in VIEWS}


def list_chips(request) -> list:
    """The quick filters of the list: 进行中, 赢单, 输单, 本月新建. No query."""
    from crm.views.lists import chips

    first, _last = month_bounds(request.user.tenant.today())
    return chips(
        request,
        [
            ("open", _("In progress"), {"status": Opportunity.Status.OPEN.value}),
            ("won", _("Won"), {"status": Opportunity.Status.WON.value}),
            ("lost", _("Lost"), {"status": Opportunity.Status.LOST.value}),
            ("this_month", _("Created this month"), {"created_after": first.isoformat()}),
        ],
    )


def mark_rows(rows, actor: User) -> None:
    """What a page's rows carry for the template: the masking layer's hidden fields (the
    ``masked`` filter; amounts when a rule hides them), 已逾期 (an open opportunity whose
    expected close date has passed) and the days in the current stage. No query."""
    from crm import masking

    masking.prepare(actor, rows)
    today = actor.tenant.today()
    now = timezone.now()
    for row in rows:
        row.overdue = row.is_open and row.expected_close_date < today
        row.stage_days = max(0, (now - row.stage_entered_at).days)
