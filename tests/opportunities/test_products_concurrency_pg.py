"""The category tree under concurrent changes (PostgreSQL, real threads on their own
connections, released together by a barrier): two managers moving two categories into each
other at the same moment never make a cycle (one move is refused), and a category created
under a subtree while that subtree moves ends with the right path and level; the tree never
goes below four levels."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from crm.exceptions import ServiceError
from crm.tenancy import tenant_scope
from opportunities.models import MAX_CATEGORY_LEVEL, ProductCategory
from opportunities.services import products as services
from tests.pools.factories import fresh_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 6


def _run(targets) -> list[BaseException]:
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
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return errors


def _create(user, name, parent=None):
    with tenant_scope(user.tenant_id):
        return services.category_create(actor=user, name=name, parent=parent)


def _check_tree(tenant_id):
    """Every path is its parent's path plus its id; levels follow; no cycle."""
    with scopes_disabled():
        rows = {c.pk: c for c in ProductCategory.objects.filter(tenant_id=tenant_id)}
    for c in rows.values():
        parent = rows.get(c.parent_id)
        assert c.path == f"{parent.path if parent else '/'}{c.pk}/"
        assert c.level == (parent.level + 1 if parent else 1)
        assert c.level <= MAX_CATEGORY_LEVEL


def test_crossed_moves_never_make_a_cycle(world):
    admin = world.admin_a
    for i in range(ROUNDS):
        a = _create(admin, f"甲{i}")
        b = _create(admin, f"乙{i}")
        outcomes: list[str] = []

        def mover(category, parent):
            def run():
                actor = fresh_user(admin)
                with tenant_scope(actor.tenant_id):
                    try:
                        services.category_move(actor=actor, category=category, parent=parent)
                        outcomes.append("moved")
                    except ServiceError as exc:
                        outcomes.append(exc.code)

            return run

        assert _run([mover(a, b), mover(b, a)]) == []
        assert sorted(outcomes) == ["cycle", "moved"]
        _check_tree(world.tenant_a.pk)


def test_a_child_created_while_its_subtree_moves_gets_the_new_path(world):
    admin = world.admin_a
    for i in range(ROUNDS):
        top = _create(admin, f"顶{i}")
        middle = _create(admin, f"中{i}", top)
        target = _create(admin, f"目标{i}")
        outcomes: list[str] = []

        def move():
            actor = fresh_user(admin)
            with tenant_scope(actor.tenant_id):
                services.category_move(actor=actor, category=middle, parent=target)
                outcomes.append("moved")

        def create():
            actor = fresh_user(admin)
            with tenant_scope(actor.tenant_id):
                services.category_create(actor=actor, name=f"新{i}", parent=middle)
                outcomes.append("created")

        assert _run([move, create]) == []
        assert sorted(outcomes) == ["created", "moved"]
        _check_tree(world.tenant_a.pk)
        with scopes_disabled():
            child = ProductCategory.objects.get(tenant=world.tenant_a, name=f"新{i}")
        assert child.path.startswith(f"/{target.pk}/{middle.pk}/")


def test_a_move_and_a_deep_create_never_pass_four_levels(world):
    admin = world.admin_a
    for i in range(ROUNDS):
        one = _create(admin, f"一{i}")
        two = _create(admin, f"二{i}", one)
        three = _create(admin, f"三{i}", two)  # under it a fourth level may be created…
        target = _create(admin, f"靶{i}")  # …or "二" moves under a level-1: its leaf is 4
        deep_target = _create(admin, f"深{i}", _create(admin, f"浅{i}", target))
        outcomes: list[str] = []

        def move():
            actor = fresh_user(admin)
            with tenant_scope(actor.tenant_id):
                try:
                    # 二 (with 三 and perhaps 四 below) under a level-2 category: 3, 4, (5).
                    services.category_move(actor=actor, category=two, parent=deep_target)
                    outcomes.append("moved")
                except ServiceError as exc:
                    outcomes.append(exc.code)

        def create():
            actor = fresh_user(admin)
            with tenant_scope(actor.tenant_id):
                try:
                    services.category_create(actor=actor, name=f"四{i}", parent=three)
                    outcomes.append("created")
                except ServiceError as exc:
                    outcomes.append(exc.code)

        assert _run([move, create]) == []
        # Either order is fine; both together would make a fifth level.
        assert sorted(outcomes) in (["created", "too_deep"], ["moved", "too_deep"])
        _check_tree(world.tenant_a.pk)
