"""Two users move the same kanban card at the same moment (PostgreSQL, real threads, each
with its own connection, released together by a barrier): the row lock serialises the
moves, every real move writes exactly one stage-change row, the history stays one chain,
and the card ends in one of the two stages. With the stage each user saw
(``expected_stage_id``, what the kanban sends) the second move is refused as stale."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from opportunities import services
from opportunities.models import Opportunity, OpportunityStageChange
from tests.customers.factories import make_customer
from tests.opportunities.factories import stages
from tests.pools.factories import fresh_user

CARDS = 8

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_threads(targets, timeout=120) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        def run():
            try:
                connection.ensure_connection()
                barrier.wait(timeout=30)
                target()
            except BaseException as exc:  # reported by the test
                errors.append(exc)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads)
    return errors


def _cards(world) -> list[Opportunity]:
    customer = make_customer(world.tenant_a, world.rep_east)
    cards = []
    with tenant_scope(world.tenant_a.pk):
        for i in range(CARDS):
            cards.append(
                services.opportunity_create(
                    actor=world.rep_east,
                    customer=customer,
                    data={"name": f"卡片{i}", "expected_close_date": datetime.date(2026, 12, 31)},
                )
            )
    return cards


def _history(card) -> list[tuple[int | None, int]]:
    with scopes_disabled():
        return list(
            OpportunityStageChange.objects.filter(opportunity=card)
            .order_by("changed_at", "id")
            .values_list("from_stage_id", "to_stage_id")
        )


def _mover(user, card, stage, outcomes, *, expected=None):
    actor = fresh_user(user)
    _ = actor.permission_codes  # loaded before the barrier

    def run():
        with tenant_scope(actor.tenant_id):
            try:
                services.opportunity_stage_change(
                    actor=actor, opportunity=card.pk, stage=stage, expected_stage_id=expected
                )
            except ServiceError as exc:
                outcomes.append((user.username, card.pk, exc.code))
            else:
                outcomes.append((user.username, card.pk, "moved"))

    return run


def test_two_users_drag_the_same_cards_at_once(world):
    assert connection.vendor == "postgresql"
    s = stages(world.tenant_a)
    start, rep_target, manager_target = s["初步接洽"], s["需求确定"], s["谈判/合同"]
    cards = _cards(world)
    outcomes: list = []
    targets = []
    for card in cards:
        targets.append(_mover(world.rep_east, card, rep_target, outcomes))
        targets.append(_mover(world.manager_sales, card, manager_target, outcomes))
    assert _run_threads(targets) == []
    assert [o for o in outcomes if o[2] != "moved"] == []
    for card in cards:
        with scopes_disabled():
            final = Opportunity.objects.get(pk=card.pk)
        history = _history(card)
        # Created, then both real moves, one after the other: one row each, one chain.
        assert len(history) == 3
        assert history[0] == (None, start.pk)
        assert history[1][0] == start.pk
        assert history[2][0] == history[1][1]
        assert {history[1][1], history[2][1]} == {rep_target.pk, manager_target.pk}
        assert final.stage_id == history[2][1]
        assert final.stage_id in (rep_target.pk, manager_target.pk)
        assert final.probability == (
            rep_target.probability
            if final.stage_id == rep_target.pk
            else manager_target.probability
        )


def test_with_the_stage_they_saw_the_second_drag_is_stale(world):
    assert connection.vendor == "postgresql"
    s = stages(world.tenant_a)
    start, rep_target, manager_target = s["初步接洽"], s["需求确定"], s["谈判/合同"]
    cards = _cards(world)
    outcomes: list = []
    targets = []
    for card in cards:
        targets.append(_mover(world.rep_east, card, rep_target, outcomes, expected=start.pk))
        targets.append(
            _mover(world.manager_sales, card, manager_target, outcomes, expected=start.pk)
        )
    assert _run_threads(targets) == []
    for card in cards:
        mine = sorted(code for _user, pk, code in outcomes if pk == card.pk)
        assert mine == ["moved", "stale"]
        winner = next(user for user, pk, code in outcomes if pk == card.pk and code == "moved")
        expected_stage = rep_target if winner == "rep_east" else manager_target
        with scopes_disabled():
            assert Opportunity.objects.get(pk=card.pk).stage_id == expected_stage.pk
        assert _history(card) == [(None, start.pk), (start.pk, expected_stage.pk)]


def test_two_drags_to_the_same_stage_write_one_row(world):
    assert connection.vendor == "postgresql"
    s = stages(world.tenant_a)
    start, target = s["初步接洽"], s["方案/报价"]
    cards = _cards(world)
    outcomes: list = []
    targets = []
    for card in cards:
        targets.append(_mover(world.rep_east, card, target, outcomes))
        targets.append(_mover(world.manager_sales, card, target, outcomes))
    assert _run_threads(targets) == []
    assert {code for *_rest, code in outcomes} == {"moved"}
    for card in cards:
        assert _history(card) == [(None, start.pk), (start.pk, target.pk)]
