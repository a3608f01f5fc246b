"""The kanban (pages helper): the columns (open stages, 赢单, a collapsed 输单), their sums,
cards moved by a drag (htmx POST with the stage the card was in) or by the card's select,
a stale drag refused with the message (the board is not swapped: the card snaps back), a drop
on 输单 through the lost-reason dialog, the views and filters, a fixed number of queries."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.customers.factories import make_customer
from tests.opportunities.factories import lost_reason, make_opportunity, refreshed, stages

KANBAN = "opportunities:opportunity-kanban"


def _section(html: str, stage_pk: int) -> str:
    """The HTML of one column of the board."""
    start = html.index(f'data-testid="column-{stage_pk}"')
    return html[start : html.index("</section>", start)]


def _column(response, name):
    return next(c for c in response.context["columns"] if c["stage"].name == name)


@pytest.fixture
def board(world):
    customer = make_customer(world.tenant_a, world.rep_east, "看板客户")
    s = stages(world.tenant_a)
    a = make_opportunity(world.rep_east, customer, "甲", amount=Decimal("10000"))
    b = make_opportunity(world.rep_east, customer, "乙", amount=Decimal("30000"))
    c = make_opportunity(
        world.rep_east, customer, "丙", amount=Decimal("50000"), stage=s["谈判/合同"]
    )
    return {"a": a, "b": b, "c": c, "stages": s, "customer": customer}


def test_columns_and_their_sums(world, as_user, board):
    response = as_user(world.rep_east).get(reverse(KANBAN))
    assert response.status_code == 200
    names = [c["stage"].name for c in response.context["columns"]]
    assert names == ["初步接洽", "需求确定", "方案/报价", "谈判/合同", "赢单", "输单"]
    first = _column(response, "初步接洽")
    assert (first["count"], first["amount"], first["weighted"]) == (
        2,
        Decimal("40000"),
        Decimal("4000"),
    )
    deal = _column(response, "谈判/合同")
    assert (deal["count"], deal["amount"], deal["weighted"]) == (
        1,
        Decimal("50000"),
        Decimal("40000"),
    )
    assert _column(response, "输单")["collapsed"] is True
    body = response.content.decode()
    assert 'data-testid="lost-fold"' in body
    assert body.count("data-kanban-move") == 3  # the no-JavaScript select on every open card
    assert "static/js/kanban.js" in body or "/static/js/kanban.js" in body


def test_drag_moves_the_card_and_answers_the_board(world, as_user, board):
    s = board["stages"]
    client = as_user(world.rep_east)
    response = client.post(
        reverse("opportunities:opportunity-stage", args=[board["a"].pk]),
        {"stage": s["谈判/合同"].pk, "expected_stage_id": s["初步接洽"].pk, "from": "kanban"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + reverse(KANBAN) + "?view=mine",
    )
    assert response.status_code == 200
    assert 'id="kanban-board"' in response.content.decode()
    assert refreshed(board["a"]).stage == s["谈判/合同"]
    column = _section(response.content.decode(), s["谈判/合同"].pk)
    assert "<dd data-count>2</dd>" in column
    assert "<dd data-sum>60,000.00</dd>" in column


def test_a_stale_drag_is_refused_and_nothing_is_swapped(world, as_user, board):
    s = board["stages"]
    client = as_user(world.rep_east)
    # Someone moved it meanwhile: the card on this board still says 初步接洽.
    client.post(
        reverse("opportunities:opportunity-stage", args=[board["a"].pk]),
        {"stage": s["需求确定"].pk, "expected_stage_id": s["初步接洽"].pk},
    )
    response = client.post(
        reverse("opportunities:opportunity-stage", args=[board["a"].pk]),
        {"stage": s["方案/报价"].pk, "expected_stage_id": s["初步接洽"].pk, "from": "kanban"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert 'id="messages"' in response.content.decode()
    assert "需求确定" in response.content.decode()
    assert refreshed(board["a"]).stage == s["需求确定"]


def test_the_card_select_without_javascript_redirects_back(world, as_user, board):
    s = board["stages"]
    client = as_user(world.rep_east)
    kanban = reverse(KANBAN) + "?view=mine"
    response = client.post(
        reverse("opportunities:opportunity-stage", args=[board["b"].pk]),
        {
            "stage": s["方案/报价"].pk,
            "expected_stage_id": s["初步接洽"].pk,
            "from": "kanban",
            "next": kanban,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == kanban
    assert refreshed(board["b"]).stage == s["方案/报价"]
    # 输单 from the select without JavaScript: the opportunity's page on its lose dialog.
    lost = client.post(
        reverse("opportunities:opportunity-stage", args=[board["b"].pk]),
        {"stage": s["输单"].pk, "from": "kanban", "next": kanban},
    )
    assert lost["Location"].endswith("#lose-modal")
    assert refreshed(board["b"]).status == "open"


def test_drop_on_lost_asks_for_the_reason(world, as_user, board):
    client = as_user(world.rep_east)
    url = reverse("opportunities:kanban-lose")
    refused = client.post(url, {"ids": board["c"].pk}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    assert 'data-testid="modal-error"' in refused.content.decode()
    assert refreshed(board["c"]).status == "open"
    reason = lost_reason(world.tenant_a)
    done = client.post(
        url,
        {
            "ids": board["c"].pk,
            "reason": reason.pk,
            "note": "预算砍了",
            "expected_stage_id": board["stages"]["谈判/合同"].pk,
        },
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + reverse(KANBAN),
    )
    assert done.status_code == 200
    body = done.content.decode()
    assert 'id="kanban-board"' in body and 'hx-swap-oob="true"' in body
    lost = refreshed(board["c"])
    assert (lost.status, lost.lost_reason_id, lost.lost_note) == ("lost", reason.pk, "预算砍了")


def test_drop_on_lost_of_an_invisible_card_is_404(world, as_user, board):
    reason = lost_reason(world.tenant_a)
    response = as_user(world.rep_west).post(
        reverse("opportunities:kanban-lose"), {"ids": board["c"].pk, "reason": reason.pk}
    )
    assert response.status_code == 404
    assert refreshed(board["c"]).status == "open"


def test_views_and_filters(world, as_user, board):
    other = make_opportunity(world.rep_west, make_customer(world.tenant_a, world.rep_west), "西")
    manager = as_user(world.manager_sales)
    team = manager.get(reverse(KANBAN), {"view": "team"})
    ids = {o.pk for c in team.context["columns"] for o in c["cards"]}
    assert ids == {board["a"].pk, board["b"].pk, board["c"].pk, other.pk}
    rep = as_user(world.rep_east)
    mine = rep.get(reverse(KANBAN), {"view": "all"})
    assert other.pk not in {o.pk for c in mine.context["columns"] for o in c["cards"]}
    by_owner = manager.get(reverse(KANBAN), {"view": "all", "owner": world.rep_west.pk})
    assert {o.pk for c in by_owner.context["columns"] for o in c["cards"]} == {other.pk}
    later = manager.get(reverse(KANBAN), {"view": "all", "expected_close_after": "2030-01-01"})
    assert all(c["count"] == 0 for c in later.context["columns"])


def test_won_column_holds_the_recently_won(world, as_user, board):
    client = as_user(world.rep_east)
    client.post(reverse("opportunities:opportunity-win", args=[board["b"].pk]))
    response = client.get(reverse(KANBAN))
    won = _column(response, "赢单")
    assert [o.pk for o in won["cards"]] == [board["b"].pk]
    assert won["amount"] == Decimal("30000")
    assert f'data-testid="card-{board["b"].pk}"' in response.content.decode()


def _queries(client, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(KANBAN), params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales", "admin_a"])
def test_kanban_queries_do_not_grow_with_the_cards(world, as_user, board, persona):
    client = as_user(getattr(world, persona))
    view = {"view": "all"}
    few = _queries(client, view)
    s = board["stages"]
    for i in range(40):
        make_opportunity(
            world.rep_east,
            board["customer"],
            f"多{i}",
            stage=s["需求确定"] if i % 2 else s["方案/报价"],
            expected_close_date=datetime.date(2026, 12, 1) + datetime.timedelta(days=i % 20),
        )
    assert _queries(client, view) == few


def test_a_column_shows_its_first_cards_by_close_date_across_owned_and_participated(
    world, as_user, board
):
    """全部 of a rep reads his own and his participations apart (one walk each per column):
    the column holds the first CARDS_PER_COLUMN of their merge in close-date order, ties by
    id, the header counts them all."""
    from django_scopes import scopes_disabled

    from opportunities.models import OpportunityParticipant
    from opportunities.views.kanban import CARDS_PER_COLUMN

    s = board["stages"]
    start = datetime.date(2027, 1, 1)
    mine = [
        make_opportunity(
            world.rep_east,
            board["customer"],
            f"多{i}",
            stage=s["需求确定"],
            expected_close_date=start + datetime.timedelta(days=i),
        )
        for i in range(CARDS_PER_COLUMN + 5)
    ]
    other = make_customer(world.tenant_a, world.rep_west, "西区客户")
    # A participation ranked 11th (the same day as 多10: the earlier id first), one past
    # the 50th, and one the rep does not take part in.
    joined = make_opportunity(
        world.rep_west, other, "参与", stage=s["需求确定"], expected_close_date=start
    )
    late = make_opportunity(
        world.rep_west,
        other,
        "参与晚",
        stage=s["需求确定"],
        expected_close_date=start + datetime.timedelta(days=400),
    )
    make_opportunity(world.rep_west, other, "不可见", stage=s["需求确定"])
    with scopes_disabled():
        joined.expected_close_date = start + datetime.timedelta(days=10)
        joined.save(update_fields=["expected_close_date"])
        for row in (joined, late):
            OpportunityParticipant.objects.create(
                tenant=world.tenant_a, opportunity=row, user=world.rep_east
            )
    column = _column(as_user(world.rep_east).get(reverse(KANBAN), {"view": "all"}), "需求确定")
    expected = [o.pk for o in mine[:10]] + [mine[10].pk, joined.pk] + [o.pk for o in mine[11:]]
    assert [o.pk for o in column["cards"]] == expected[:CARDS_PER_COLUMN]
    assert column["count"] == CARDS_PER_COLUMN + 5 + 2
    assert column["more"] is True


def test_team_board_of_a_rep_alone_is_empty(world, as_user, board):
    """Nobody else in a rep's own scope: 下属 has no card and no card query."""
    from crm.visibility import owner_scope

    assert owner_scope(world.rep_east2).is_alone
    response = as_user(world.rep_east2).get(reverse(KANBAN), {"view": "team"})
    assert response.status_code == 200
    assert all(not c["cards"] and c["count"] == 0 for c in response.context["columns"])


def test_closed_columns_hold_only_the_last_30_days(world, as_user, board):
    from django_scopes import scopes_disabled

    client = as_user(world.rep_east)
    client.post(reverse("opportunities:opportunity-win", args=[board["a"].pk]))
    client.post(reverse("opportunities:opportunity-win", args=[board["b"].pk]))
    with scopes_disabled():
        old = refreshed(board["a"])
        old.closed_date = datetime.date.today() - datetime.timedelta(days=31)
        old.save(update_fields=["closed_date"])
    won = _column(client.get(reverse(KANBAN)), "赢单")
    assert [o.pk for o in won["cards"]] == [board["b"].pk]
    assert won["count"] == 1


def test_weighted_sum_of_a_column_with_several_probabilities(world, as_user, board):
    """The sums are added up per stage and probability (views.kanban._column_sums): a column
    whose cards carry different probabilities weighs each by its own."""
    from django_scopes import scopes_disabled

    from opportunities.models import Opportunity

    with scopes_disabled():
        Opportunity.objects.filter(pk=board["b"].pk).update(probability=25)
    first = _column(as_user(world.rep_east).get(reverse(KANBAN)), "初步接洽")
    # 10,000 at the stage's 10 % and 30,000 at 25 %.
    assert (first["count"], first["amount"], first["weighted"]) == (
        2,
        Decimal("40000"),
        Decimal("8500"),
    )
