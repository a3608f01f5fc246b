"""The lists of opportunities (商机列表 and the kanban): their views 我负责的 / 我参与的 / 下属 /
全部 / 7天未跟进 / 本月预计成交, sorts and chips, and what a page's rows carry for the template.
Every list starts from ``crm.visibility.visible_to``: a row nobody may see is never listed.
"""

from __future__ import annotations

import datetime

from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from crm.models import User
from crm.visibility import owner_scope, visible_to
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


def month_bounds(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The first and the last day of the current month (tenant's time zone)."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return first, following - datetime.timedelta(days=1)


def _participations(actor: User) -> QuerySet:
    return OpportunityParticipant.objects.filter(
        tenant_id=actor.tenant_id, user_id=actor.pk
    ).values("opportunity_id")


def opportunity_base(*, actor: User, view: str = "mine") -> QuerySet:
    """The opportunities of one list view that ``actor`` may see (404 for an unknown view).
    我负责的 / 我参与的 / 下属 / 全部 hold every status (the status filter narrows them);
    7天未跟进 and 本月预计成交 are work lists of open opportunities."""
    if view not in VIEW_KEYS:
        raise Http404
    qs = visible_to(actor, Opportunity.objects.all())
    if view == "mine":
        return qs.filter(owner=actor)
    if view == "participated":
        return qs.filter(pk__in=_participations(actor))
    if view == "team":
        scope = owner_scope(actor)
        if scope.is_all:
            return qs.filter(owner__isnull=False).exclude(owner=actor)
        # PERF: nobody else in the scope (a rep's own scope) is an empty list without a query.
        if scope.is_alone:
            return qs.none()
        return qs.filter(scope.q("owner_id")).exclude(owner=actor)
    if view == "stale":
        cutoff = timezone.now() - datetime.timedelta(days=STALE_DAYS)
        return qs.open().filter(
            Q(last_followup_at__lt=cutoff) | Q(last_followup_at__isnull=True, created_at__lt=cutoff)
        )
    if view == "closing":
        first, last = month_bounds()
        return qs.open().filter(expected_close_date__gte=first, expected_close_date__lte=last)
    return qs


def opportunity_list(*, queryset: QuerySet, sort: str = "created") -> QuerySet:
    """``queryset`` page-ready: its joins, in the order ``sort``."""
    return queryset.select_related(*LIST_JOINS).order_by(*SORTS.get(sort, SORTS["created"]))


def view_counts(*, actor: User) -> dict[str, tuple[int, bool]]:
    """(count, capped) of every view (capped at customers.selectors.COUNT_CAP)."""
    from customers.selectors import capped_count

    return {key: capped_count(opportunity_base(actor=actor, view=key)) for key, _l in VIEWS}


def list_chips(request) -> list:
    """The quick filters of the list: 进行中, 赢单, 输单, 本月新建. No query."""
    from crm.views.lists import chips

    first, _last = month_bounds()
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
    today = timezone.localdate()
    now = timezone.now()
    for row in rows:
        row.overdue = row.is_open and row.expected_close_date < today
        row.stage_days = max(0, (now - row.stage_entered_at).days)
