"""The kanban (商机看板): a column per open stage, 赢单 and a collapsed 输单, each header with
its count, Σ amount and Σ weighted amount; cards dragged between columns (static/js/kanban.js)
post to the stage-change view (``opportunities:opportunity-stage`` with ``from=kanban``), a
drop on 输单 opens the lost-reason dialog (``kanban_lose``). Without JavaScript each card
has a stage select and a button. The same views and filters as the list.

PERF: a fixed number of queries whatever the number of cards: the column sums in one query
(index-only GROUP BYs: _column_sums), the cards of every column in one query (the first
CARDS_PER_COLUMN of each, each column an index walk: _card_ids), the stages once. Measured by
bench/opportunities.py (bench/README.md, "Opportunities benchmark").
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.views.base import tenant_view
from opportunities import listing, selectors
from opportunities.filters import KanbanFilter
from opportunities.forms.opportunities import LoseForm
from opportunities.models import Opportunity, OpportunityStage, StageKind
from opportunities.services import opportunities as services

# The cards a column shows (the header counts them all; 全部 opens the list of the column).
CARDS_PER_COLUMN = 50
# 赢单 and 输单 hold the opportunities closed in the last this many days.
CLOSED_DAYS = 30


def _view(request) -> str:
    view = request.GET.get("view") or "mine"
    return view if view in dict(listing.KANBAN_VIEWS) else "mine"


def _card_ids(
    qs: QuerySet, stages: list, parts: list[QuerySet], since: datetime.date
) -> RawSQL | None:
    """The ids of the first CARDS_PER_COLUMN cards of every column (by expected close date,
    then id), as one subquery: a UNION ALL of ``ORDER BY expected_close_date, id LIMIT 50``
    members, one per stage and visible part, ranked once more when the column has several
    parts (at most 50 × parts rows per column). ``None``: no card can be there.

    PERF: each member is a walk of 50 entries of an index in that order (opp_stage_close;
    opp_owner_stage_close for one owner's rows, 我负责的 or the owned part of 全部). One
    window over every visible row joined to customer, stage and owner sorted 100,000 rows
    on disk for an admin's 全部 on a 200,000-opportunity tenant (300-450 ms)."""
    connection = connections[qs.db]
    quote = connection.ops.quote_name
    members, params = [], []
    for stage in stages:
        for part in parts:
            member = part.filter(stage_id=stage.pk)
            closed = stage.kind != StageKind.OPEN
            if closed:
                # Implied by ``recent`` (a won or lost stage's rows are closed): the index
                # condition of opp_stage_closed.
                member = member.filter(closed_date__gte=since)
            member = member.values_list("id", "stage_id", "expected_close_date")
            fenced = closed and connection.vendor == "postgresql"
            if fenced:
                member = member.order_by()
            else:
                member = member.order_by("expected_close_date", "id")[:CARDS_PER_COLUMN]
            try:
                sql, member_params = member.query.get_compiler(using=qs.db).as_sql()
            except EmptyResultSet:
                continue
            alias = quote(f"m{len(members)}")
            if fenced:
                # PERF: a closed column's rows closed lately, read whole from
                # opp_stage_closed (a few thousand on the bench tenant) and cut after a
                # sort. Left to itself PostgreSQL walks opp_stage_close in the card's order
                # expecting the recent ones spread over it, but a deal's expected close
                # is near its close: it passed every row closed earlier (64,000 index
                # entries, 45-80 ms). ``OFFSET 0`` keeps the subquery apart (no pull-up).
                sql = (
                    f"SELECT * FROM ({sql} OFFSET 0) {quote(f'c{len(members)}')} "  # noqa: S608
                    f"ORDER BY {quote('expected_close_date')}, {quote('id')} LIMIT %s"
                )
                member_params = (*member_params, CARDS_PER_COLUMN)
            members.append(f"SELECT * FROM ({sql}) {alias}")  # noqa: S608
            params += member_params
    if not members:
        return None
    # Every piece is Django's SQL of a queryset or a quoted constant name; values are params.
    union = " UNION ALL ".join(members)
    if len(parts) == 1:
        return RawSQL(f"SELECT {quote('id')} FROM ({union}) {quote('cards')}", params)  # noqa: S608,S611
    ranked = (
        f"SELECT {quote('id')}, ROW_NUMBER() OVER (PARTITION BY {quote('stage_id')} "  # noqa: S608
        f"ORDER BY {quote('expected_close_date')}, {quote('id')}) AS {quote('rank')} "
        f"FROM ({union}) {quote('cards')}"
    )
    sql = f"SELECT {quote('id')} FROM ({ranked}) {quote('ranked')} WHERE {quote('rank')} <= %s"  # noqa: S608
    return RawSQL(sql, [*params, CARDS_PER_COLUMN])  # noqa: S611


def _column_sums(parts: list[QuerySet], since: datetime.date) -> dict[int, dict]:
    """{stage id: {n, amount_sum, weighted_sum}} of the board's rows (open, or closed since
    ``since``) of the disjoint ``parts``: one query, a UNION ALL of GROUP BY stage and
    probability members (each part's open rows, its recently closed rows) added up here,
    Σ weighted = Σ over probabilities of Σ amount × probability / 100 (the same sum; a
    division per row cost PostgreSQL a third of the GROUP BY).

    PERF: each member is an index-only read (opp_status_sums holds status, owner, stage,
    amount and probability; opp_closed the closed ones' by close date), where one GROUP BY
    with ``status = 'open' OR closed_date >= …`` scanned the table (an admin's 全部 on a
    200,000-opportunity tenant: a parallel sequential scan, 35-42 ms). ``COUNT(*)``, not of
    the id: the id is in neither index. An admin's 90,000 open rows stay 20-30 ms to add up
    (bench/README.md)."""
    members = [
        part.filter(when)
        .order_by()
        .values("stage_id", "probability")
        .annotate(n=Count("*"), amount_sum=Sum("amount"))
        for part in parts
        for when in (
            Q(status=StageKind.OPEN),
            ~Q(status=StageKind.OPEN) & Q(closed_date__gte=since),
        )
    ]
    sums: dict[int, dict] = {}
    for row in members[0].union(*members[1:], all=True):
        total = sums.setdefault(
            row["stage_id"], {"n": 0, "amount_sum": Decimal(0), "weighted_sum": Decimal(0)}
        )
        amount = row["amount_sum"] or Decimal(0)
        total["n"] += row["n"]
        total["amount_sum"] += amount
        total["weighted_sum"] += amount * row["probability"] / Decimal(100)
    for total in sums.values():
        total["weighted_sum"] = total["weighted_sum"].quantize(Decimal("0.01"))
    return sums


def board_context(request, query=None) -> dict:
    """The board for the request's view and filters (``query``: the kanban's own query
    string when the board is rebuilt after a move posted from it)."""
    actor = request.user
    query = request.GET if query is None else query
    view = query.get("view") or "mine"
    if view not in dict(listing.KANBAN_VIEWS):
        view = "mine"
    base = listing.opportunity_base(actor=actor, view=view)
    filterset = KanbanFilter(query or None, queryset=base, request=request)
    filtered = filterset.is_bound and filterset.is_valid()
    qs = filterset.qs if filtered else base
    since = actor.tenant.today() - datetime.timedelta(days=CLOSED_DAYS)
    # Open ones, and those won or lost lately.
    recent = Q(status=StageKind.OPEN) | Q(closed_date__gte=since)
    qs = qs.filter(recent)
    # The view's rows read apart (listing.view_parts), filtered alike.
    apart = [
        filterset.filter_queryset(part) if filtered else part
        for part in listing.view_parts(actor=actor, view=view)
    ]
    parts = [part.filter(recent) for part in apart]
    stages = list(
        OpportunityStage.objects.filter(tenant_id=actor.tenant_id)
        .filter(Q(is_active=True) | ~Q(kind=StageKind.OPEN))
        .order_by("sort", "id")
    )
    sums = _column_sums(apart, since)
    ids = _card_ids(qs, stages, parts, since)
    cards = (
        []
        if ids is None
        else list(
            Opportunity.objects.filter(pk__in=ids)
            .select_related(*listing.LIST_JOINS)
            .order_by("stage__sort", "stage_id", "expected_close_date", "id")
        )
    )
    listing.mark_rows(cards, actor)
    from crm import masking

    # A masking rule hiding amounts from the actor hides the columns' sums too.
    amounts_hidden = "amount" in masking.maskable_paths(Opportunity) and (
        not cards or any("amount" in masking.prepared_paths(c) for c in cards)
    )
    by_stage: dict[int, list] = {}
    for card in cards:
        by_stage.setdefault(card.stage_id, []).append(card)
    query_string = query.urlencode() if hasattr(query, "urlencode") else ""
    columns = []
    for stage in stages:
        figures = sums.get(stage.pk, {})
        columns.append(
            {
                "stage": stage,
                "cards": by_stage.get(stage.pk, []),
                "count": figures.get("n", 0),
                "amount": figures.get("amount_sum", Decimal(0)),
                "weighted": figures.get("weighted_sum", Decimal(0)),
                "collapsed": stage.kind == StageKind.LOST,
                "more": figures.get("n", 0) > CARDS_PER_COLUMN,
                # The stage select of every open card of the column (the same options, the
                # column's stage selected), rendered once per column (PERF: 50 cards × the
                # stages in the template were a third of an admin's board).
                "move_options": format_html_join(
                    "",
                    '<option value="{}"{}>{}</option>',
                    (
                        (s.pk, mark_safe(" selected") if s.pk == stage.pk else "", s.name)
                        for s in stages
                    ),
                ),
            }
        )
    return {
        "view": view,
        "views": listing.KANBAN_VIEWS,
        "filter": filterset,
        "columns": columns,
        "stages": stages,
        "lost_stage": next((s for s in stages if s.kind == StageKind.LOST), None),
        "keep": {"view": view},
        "filtered": bool(filterset.is_bound and filterset.active_filters),
        "kanban_url": reverse("opportunities:opportunity-kanban")
        + (f"?{query_string}" if query_string else ""),
        "closed_days": CLOSED_DAYS,
        "amounts_hidden": amounts_hidden,
        "cards_per_column": CARDS_PER_COLUMN,
    }


@tenant_view()
def kanban(request):
    context = board_context(request)
    context["lose_form"] = LoseForm(tenant_id=request.user.tenant_id)
    if request.htmx and request.htmx.target == "kanban-board":
        return render(request, "opportunities/kanban.html#board", context)
    return render(request, "opportunities/kanban.html", context)


def _kanban_query(request):
    """The query string of the kanban the move was made on (its filters), from the page's
    address (HX-Current-URL) or the posted ``next``."""
    from urllib.parse import urlsplit

    from django.http import QueryDict

    url = (request.htmx.current_url if request.htmx else None) or request.POST.get("next") or ""
    return QueryDict(urlsplit(url).query)


def board_response(request, *, lose_form=None):
    """After a move made on the kanban (htmx): the board with its sums again, the messages
    out of band."""
    context = board_context(request, _kanban_query(request))
    response = render(request, "opportunities/kanban.html#board", context)
    response.write(render_to_string("opportunities/kanban.html#oob-messages", {}, request))
    return response


@tenant_view()
@require_POST
def kanban_lose(request):
    """A card dropped on 输单: the lost-reason dialog posts here with the card's id (``ids``).
    Refused without a reason: the dialog's form again with the error under the field (422);
    done: a fresh form, and the board and the messages out of band."""
    actor = request.user
    raw = request.POST.get("ids", "")
    if not raw.isdigit():
        raise Http404
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=int(raw))
    form = LoseForm(request.POST, tenant_id=actor.tenant_id)
    template = "opportunities/kanban.html#lose-modal"
    context = {"lose_form": form, "form_only": True, "ids": opportunity.pk}
    if not form.is_valid():
        return render(request, template, context, status=422)
    try:
        services.opportunity_lose(
            actor=actor,
            opportunity=opportunity,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            expected_stage_id=form.cleaned_data.get("expected_stage_id"),
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, template, context, status=422)
    from django.contrib import messages

    messages.success(request, _("%(name)s is lost.") % {"name": opportunity})
    fresh = {"lose_form": LoseForm(tenant_id=actor.tenant_id), "form_only": True, "ids": "0"}
    response = render(request, template, fresh)
    board = board_context(request, _kanban_query(request))
    response.write(
        render_to_string("opportunities/kanban.html#board", {**board, "oob": True}, request)
    )
    response.write(render_to_string("opportunities/kanban.html#oob-messages", {}, request))
    return response
