"""The opportunity services: what each one does and what it refuses (wave2.md §3), the
tenant defaults, and the hooks into customers (delete, transfer, merge, follow-ups)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import ProtectedError
from django.http import Http404
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, Option, OptionKind, Role
from crm.visibility import can_see
from customers import services as customer_services
from customers.models import Customer, FollowUp
from opportunities import hooks, policies, selectors, services
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    OpportunitySettings,
    OpportunityStage,
    OpportunityStageChange,
    StageKind,
)
from tests.customers.factories import make_contact, make_customer
from tests.factories import TenantFactory, make_user
from tests.opportunities.factories import (
    contact_role,
    end_stage,
    lost_reason,
    make_opportunity,
    make_product,
    refreshed,
    stages,
)

pytestmark = pytest.mark.django_db


def _changes(opportunity) -> list[tuple[str | None, str]]:
    with scopes_disabled():
        return [
            (c.from_stage.name if c.from_stage else None, c.to_stage.name)
            for c in OpportunityStageChange.objects.filter(opportunity=opportunity).order_by(
                "changed_at", "id"
            )
        ]


def _actions(opportunity) -> list[str]:
    with scopes_disabled():
        return list(
            ActivityLog.objects.filter(object_id=opportunity.pk, action__startswith="opportunity")
            .order_by("id")
            .values_list("action", flat=True)
        )


def _strict(tenant):
    with scopes_disabled():
        OpportunitySettings.objects.filter(tenant=tenant).update(stage_mode="strict")


# ---------------------------------------------------------------- tenant defaults


def test_a_new_tenant_gets_stages_settings_contact_roles_and_rights(world):
    with scopes_disabled():
        names = list(
            OpportunityStage.objects.filter(tenant=world.tenant_a)
            .order_by("sort")
            .values_list("name", "probability", "kind")
        )
        settings = OpportunitySettings.objects.get(tenant=world.tenant_a)
        roles = list(
            Option.objects.filter(tenant=world.tenant_a, kind=OptionKind.CONTACT_ROLE)
            .order_by("sort_order")
            .values_list("label", flat=True)
        )
        rep_role = Role.objects.get(tenant=world.tenant_a, builtin=Role.Builtin.SALES_REP)
    assert names == [
        ("初步接洽", 10, "open"),
        ("需求确定", 30, "open"),
        ("方案/报价", 50, "open"),
        ("谈判/合同", 80, "open"),
        ("赢单", 100, "won"),
        ("输单", 0, "lost"),
    ]
    assert settings.stage_mode == "free" and settings.probability_override is False
    assert roles == ["决策人", "采购", "技术评估", "使用人", "财务", "影响人", "其他"]
    assert world.rep_east.can("opportunity.create") and world.rep_east.can("opportunity.export")
    assert not world.rep_east.can("opportunity.reopen")
    assert not world.rep_east.can("opportunity.transfer")
    assert world.manager_sales.can("opportunity.reopen")
    assert world.manager_sales.can("opportunity.transfer")
    assert not world.manager_sales.can("opportunity.settings")
    assert world.admin_a.can("opportunity.settings") and world.admin_a.can("product.manage")
    assert "opportunity.create" in rep_role.permissions


def test_one_won_and_one_lost_stage_per_tenant_is_a_database_rule(world):
    from django.db import IntegrityError, transaction

    with scopes_disabled(), pytest.raises(IntegrityError), transaction.atomic():
        OpportunityStage.objects.create(
            tenant=world.tenant_a, name="又一个赢单", probability=100, kind="won", sort=99
        )


# ---------------------------------------------------------------- create


def test_create_with_lines_and_contacts(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    boss = make_contact(customer, "王总")
    buyer = make_contact(customer, "李采购")
    forklift = make_product(world.tenant_a, "电动叉车", price="85000.00", spec="3吨")
    battery = make_product(world.tenant_a, "电池", price="1200.50")
    with scoped(world.rep_east):
        opportunity = services.opportunity_create(
            actor=world.rep_east,
            customer=customer,
            data={"name": "三台叉车", "expected_close_date": datetime.date(2026, 12, 1)},
            lines=[
                {"product": forklift, "qty": 3, "unit_price": "80000"},
                {"product": battery.pk, "qty": "2.5"},
            ],
            contacts=[
                {
                    "contact": boss,
                    "role": contact_role(world.tenant_a, "决策人"),
                    "is_primary": True,
                },
                buyer,
            ],
        )
        lines = list(opportunity.lines.order_by("sort"))
    assert opportunity.owner == world.rep_east
    assert opportunity.owner_department_id == world.east.pk
    assert opportunity.stage.name == "初步接洽" and opportunity.probability == 10
    assert opportunity.status == StageKind.OPEN
    assert [(li.name, li.spec, li.qty, li.list_price, li.unit_price) for li in lines] == [
        ("电动叉车", "3吨", Decimal("3.00"), Decimal("85000.00"), Decimal("80000.00")),
        ("电池", "", Decimal("2.50"), Decimal("1200.50"), Decimal("1200.50")),
    ]
    assert lines[0].subtotal == Decimal("240000.00")
    assert lines[0].discount_pct == Decimal("5.88")
    assert lines[1].subtotal == Decimal("3001.25") and lines[1].discount_pct == 0
    assert opportunity.amount == Decimal("243001.25") and not opportunity.amount_manual
    assert refreshed(opportunity).primary_contact_id == boss.pk
    with scopes_disabled():
        rows = list(
            OpportunityContact.objects.filter(opportunity=opportunity).order_by("contact_id")
        )
    assert [(r.contact_id, r.is_primary) for r in rows] == [(boss.pk, True), (buyer.pk, False)]
    assert _changes(opportunity) == [(None, "初步接洽")]
    assert _actions(opportunity) == ["opportunity.created"]


def test_create_with_an_entered_amount_keeps_it(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    product = make_product(world.tenant_a, price="10")
    opportunity = make_opportunity(
        world.rep_east, customer, amount="5000", lines=[{"product": product, "qty": 1}]
    )
    assert opportunity.amount == Decimal("5000.00") and opportunity.amount_manual
    with scoped(world.rep_east):
        services.opportunity_lines_set(
            actor=world.rep_east, opportunity=opportunity, lines=[{"product": product, "qty": 9}]
        )
    assert refreshed(opportunity).amount == Decimal("5000.00")
    with scoped(world.rep_east):
        services.opportunity_update(
            actor=world.rep_east, opportunity=opportunity, data={"amount": None}
        )
    fresh = refreshed(opportunity)
    assert fresh.amount == Decimal("90.00") and not fresh.amount_manual


def test_create_refused_on_a_customer_the_user_may_not_edit(world, scoped):
    others = make_customer(world.tenant_a, world.rep_east2)
    with scoped(world.rep_east), pytest.raises(NotFoundError):
        # Not visible at all: the same answer as a missing customer.
        services.opportunity_create(
            actor=world.rep_east,
            customer=others,
            data={"name": "x", "expected_close_date": datetime.date(2026, 1, 1)},
        )
    public = make_customer(world.tenant_a, world.rep_east2, visibility=Customer.Visibility.PUBLIC)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east,
            customer=public,
            data={"name": "x", "expected_close_date": datetime.date(2026, 1, 1)},
        )
    assert exc.value.code == "customer"
    with scopes_disabled():
        assert not Opportunity.objects.exists()


def test_create_refused_without_the_right_or_required_fields(world, scoped):
    customer = make_customer(world.tenant_a, world.service_a)
    with scoped(world.service_a), pytest.raises(PermissionRefusedError):
        services.opportunity_create(
            actor=world.service_a,
            customer=customer,
            data={"name": "x", "expected_close_date": datetime.date(2026, 1, 1)},
        )
    mine = make_customer(world.tenant_a, world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(actor=world.rep_east, customer=mine, data={"name": "x"})
    assert exc.value.code == "required"
    won = end_stage(world.tenant_a, "won")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east,
            customer=mine,
            data={"name": "x", "expected_close_date": datetime.date(2026, 1, 1), "stage": won},
        )
    assert exc.value.code == "stage"


def test_create_refuses_a_contact_of_another_customer_and_an_off_sale_product(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    other = make_customer(world.tenant_a, world.rep_east)
    stranger = make_contact(other, "别家联系人")
    base = {"name": "x", "expected_close_date": datetime.date(2026, 1, 1)}
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east, customer=customer, data=base, contacts=[stranger]
        )
    assert exc.value.code == "contact"
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east, customer=customer, data={**base, "primary_contact": stranger}
        )
    assert exc.value.code == "contact"
    off = make_product(world.tenant_a, status="off_sale")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east, customer=customer, data=base, lines=[{"product": off}]
        )
    assert exc.value.code == "off_sale"
    foreign = make_product(world.tenant_b)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_create(
            actor=world.rep_east, customer=customer, data=base, lines=[{"product": foreign.pk}]
        )
    assert exc.value.code == "product"
    with scopes_disabled():
        assert not Opportunity.objects.exists()


# ---------------------------------------------------------------- stages


def test_free_mode_jumps_and_moves_back(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    s = stages(world.tenant_a)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["谈判/合同"]
        )
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["需求确定"].pk
        )
        # The stage it is in already: nothing happens, no row.
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["需求确定"]
        )
    fresh = refreshed(opportunity)
    assert fresh.stage.name == "需求确定" and fresh.probability == 30
    assert _changes(opportunity) == [
        (None, "初步接洽"),
        ("初步接洽", "谈判/合同"),
        ("谈判/合同", "需求确定"),
    ]
    assert _actions(opportunity).count("opportunity.stage") == 2


def test_strict_mode_goes_forward_one_stage_and_back_to_any(world, scoped):
    _strict(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    s = stages(world.tenant_a)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["方案/报价"]
        )
    assert exc.value.code == "strict"
    assert "需求确定" in str(exc.value.message)
    with scoped(world.rep_east):
        for name in ("需求确定", "方案/报价", "谈判/合同"):
            services.opportunity_stage_change(
                actor=world.rep_east, opportunity=opportunity, stage=s[name]
            )
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["初步接洽"]
        )
    assert refreshed(opportunity).stage.name == "初步接洽"
    # A deactivated stage in between is skipped by the strict rule.
    with scopes_disabled():
        OpportunityStage.objects.filter(pk=s["需求确定"].pk).update(is_active=False)
    with scoped(world.rep_east):
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["方案/报价"]
        )
    assert refreshed(opportunity).stage.name == "方案/报价"


def test_rollback_refused_when_the_stage_forbids_it(world, scoped):
    s = stages(world.tenant_a)
    with scopes_disabled():
        OpportunityStage.objects.filter(pk=s["方案/报价"].pk).update(allow_rollback_open=False)
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer, stage=s["方案/报价"])
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["需求确定"]
        )
    assert exc.value.code == "rollback"
    with scoped(world.rep_east):
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["谈判/合同"]
        )
    assert refreshed(opportunity).stage.name == "谈判/合同"


def test_stage_change_refuses_the_lost_stage_and_a_stale_card(world, scoped):
    s = stages(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["输单"]
        )
    assert exc.value.code == "lost_reason"
    with scoped(world.rep_east):
        services.opportunity_stage_change(
            actor=world.rep_east,
            opportunity=opportunity,
            stage=s["需求确定"],
            expected_stage_id=s["初步接洽"].pk,
        )
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        # The card still showed it in 初步接洽.
        services.opportunity_stage_change(
            actor=world.rep_east,
            opportunity=opportunity,
            stage=s["谈判/合同"],
            expected_stage_id=s["初步接洽"].pk,
        )
    assert exc.value.code == "stale"
    assert refreshed(opportunity).stage.name == "需求确定"


def test_stage_change_to_the_won_stage_wins(world, scoped):
    s = stages(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        services.opportunity_stage_change(
            actor=world.rep_east, opportunity=opportunity, stage=s["赢单"]
        )
    fresh = refreshed(opportunity)
    assert fresh.status == "won" and fresh.probability == 100
    assert "opportunity.won" in _actions(opportunity)


def test_a_colleague_without_rights_cannot_move_it(world, scoped):
    s = stages(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east, visibility="public")
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east2), pytest.raises(NotFoundError):
        services.opportunity_stage_change(
            actor=world.rep_east2, opportunity=opportunity, stage=s["需求确定"]
        )
    # The manager whose scope covers the owner may.
    with scoped(world.manager_sales):
        services.opportunity_stage_change(
            actor=world.manager_sales, opportunity=opportunity, stage=s["需求确定"]
        )
    assert refreshed(opportunity).stage.name == "需求确定"


def test_probability_follows_the_stage_unless_the_tenant_allows_typing_it(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer, probability=77)
    assert opportunity.probability == 10
    with scopes_disabled():
        OpportunitySettings.objects.filter(tenant=world.tenant_a).update(probability_override=True)
    with scoped(world.rep_east):
        services.opportunity_update(
            actor=world.rep_east, opportunity=opportunity, data={"probability": 77}
        )
    assert refreshed(opportunity).probability == 77
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_update(
            actor=world.rep_east, opportunity=opportunity, data={"probability": 101}
        )
    assert exc.value.code == "probability"


# ---------------------------------------------------------------- win / lose / reopen


def test_lose_needs_a_reason_of_the_lost_reason_list(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_lose(actor=world.rep_east, opportunity=opportunity, reason=None)
    assert exc.value.code == "reason"
    wrong_kind = contact_role(world.tenant_a)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_lose(actor=world.rep_east, opportunity=opportunity, reason=wrong_kind)
    assert exc.value.code == "option"
    with scoped(world.rep_east), pytest.raises(NotFoundError):
        services.opportunity_lose(
            actor=world.rep_east, opportunity=opportunity, reason=lost_reason(world.tenant_b)
        )
    assert refreshed(opportunity).status == "open"
    reason = lost_reason(world.tenant_a, "价格太高")
    with scoped(world.rep_east):
        services.opportunity_lose(
            actor=world.rep_east, opportunity=opportunity, reason=reason, note="对手便宜两万"
        )
    fresh = refreshed(opportunity)
    assert fresh.status == "lost" and fresh.stage.name == "输单" and fresh.probability == 0
    assert fresh.lost_reason_id == reason.pk and fresh.lost_note == "对手便宜两万"
    assert fresh.closed_date is not None
    assert _changes(opportunity)[-1] == ("初步接洽", "输单")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_win(actor=world.rep_east, opportunity=opportunity)
    assert exc.value.code == "closed"


def test_win_closes_it_and_tells_the_owners_manager(world, scoped):
    from crm.models import Notification

    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer, amount="1000")
    with scoped(world.rep_east):
        services.opportunity_win(actor=world.rep_east, opportunity=opportunity, note="签了")
    fresh = refreshed(opportunity)
    assert fresh.status == "won" and fresh.probability == 100 and fresh.closed_date
    with scopes_disabled():
        assert Notification.objects.filter(recipient=world.manager_sales).count() == 1
        customer.refresh_from_db()
    assert customer.lifecycle == Customer.Lifecycle.DEVELOPMENT  # contracts sign, not a win


def test_a_won_opportunity_is_read_only_but_its_remark_and_team(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    contact = make_contact(customer)
    product = make_product(world.tenant_a)
    opportunity = make_opportunity(world.rep_east, customer, lines=[{"product": product}])
    with scoped(world.rep_east):
        services.opportunity_win(actor=world.rep_east, opportunity=opportunity)
    attempts = [
        lambda: services.opportunity_update(
            actor=world.rep_east, opportunity=opportunity, data={"name": "改名"}
        ),
        lambda: services.opportunity_update(
            actor=world.rep_east, opportunity=opportunity, data={"amount": "1"}
        ),
        lambda: services.opportunity_lines_set(
            actor=world.rep_east, opportunity=opportunity, lines=[]
        ),
        lambda: services.opportunity_contact_add(
            actor=world.rep_east, opportunity=opportunity, contact=contact
        ),
        lambda: services.opportunity_stage_change(
            actor=world.rep_east,
            opportunity=opportunity,
            stage=stages(world.tenant_a)["需求确定"],
        ),
    ]
    for attempt in attempts:
        with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
            attempt()
        assert exc.value.code == "closed"
    with scoped(world.rep_east):
        services.opportunity_update(
            actor=world.rep_east,
            opportunity=opportunity,
            data={"remark": "客户很满意", "name": refreshed(opportunity).name},
        )
        services.opportunity_participants_add(
            actor=world.rep_east, opportunity=opportunity, users=[world.rep_west]
        )
        customer_services.followup_create(
            actor=world.rep_east, record=refreshed(opportunity), content="回访"
        )
    fresh = refreshed(opportunity)
    assert fresh.remark == "客户很满意" and fresh.status == "won"
    with scopes_disabled():
        assert OpportunityLine.objects.filter(opportunity=opportunity).count() == 1
    assert fresh.last_followup_at is not None
    with scoped(world.rep_west):
        assert can_see(world.rep_west, fresh)


def test_reopen_only_by_a_manager_covering_the_owner_and_when_the_stage_allows(world, scoped):
    s = stages(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer, stage=s["方案/报价"])
    with scoped(world.rep_east):
        services.opportunity_lose(
            actor=world.rep_east, opportunity=opportunity, reason=lost_reason(world.tenant_a)
        )
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.opportunity_reopen(actor=world.manager_sales, opportunity=opportunity)
    assert exc.value.code == "no_reopen"
    with scopes_disabled():
        OpportunityStage.objects.filter(pk=s["输单"].pk).update(allow_reopen=True)
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.opportunity_reopen(actor=world.rep_east, opportunity=opportunity)
    # A manager of another branch: the opportunity is not even visible.
    other_manager = make_user(
        world.tenant_a, "manager_service", role=Role.Builtin.SALES_MANAGER, department=world.service
    )
    with scoped(other_manager), pytest.raises(NotFoundError):
        services.opportunity_reopen(actor=other_manager, opportunity=opportunity)
    with scoped(world.manager_sales):
        services.opportunity_reopen(
            actor=world.manager_sales, opportunity=opportunity, note="客户又有预算了"
        )
    fresh = refreshed(opportunity)
    assert fresh.status == "open" and fresh.stage.name == "方案/报价"
    assert fresh.closed_date is None and fresh.lost_reason_id is None and fresh.probability == 50
    assert _changes(opportunity)[-2:] == [("方案/报价", "输单"), ("输单", "方案/报价")]
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.opportunity_reopen(actor=world.manager_sales, opportunity=opportunity)
    assert exc.value.code == "open"


# ---------------------------------------------------------------- lines


def test_lines_totals_are_computed_on_the_server(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    p1 = make_product(world.tenant_a, price="99.99")
    p2 = make_product(world.tenant_a, price="0")
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        services.opportunity_lines_set(
            actor=world.rep_east,
            opportunity=opportunity,
            lines=[
                {"product": p1, "qty": "3", "unit_price": "33.335", "subtotal": "1"},
                {"product": p2, "qty": "1", "unit_price": "5"},
            ],
        )
        rows = list(OpportunityLine.objects.filter(opportunity=opportunity).order_by("sort"))
    assert [(r.unit_price, r.subtotal, r.discount_pct) for r in rows] == [
        (Decimal("33.34"), Decimal("100.02"), Decimal("66.66")),
        (Decimal("5.00"), Decimal("5.00"), Decimal("0")),
    ]
    assert refreshed(opportunity).amount == Decimal("105.02")
    for bad, code in (({"product": p1, "qty": "0"}, "qty"), ({"product": p1, "qty": "x"}, "qty")):
        with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
            services.opportunity_lines_set(
                actor=world.rep_east, opportunity=opportunity, lines=[bad]
            )
        assert exc.value.code == code
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_lines_set(
            actor=world.rep_east,
            opportunity=opportunity,
            lines=[{"product": p1, "unit_price": "-1"}],
        )
    assert exc.value.code == "negative"
    assert refreshed(opportunity).amount == Decimal("105.02")


def test_a_kept_line_keeps_its_snapshot_and_an_off_sale_product_stays(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    product = make_product(world.tenant_a, "旧名", price="100")
    opportunity = make_opportunity(world.rep_east, customer, lines=[{"product": product}])
    with scopes_disabled():
        line = OpportunityLine.objects.get(opportunity=opportunity)
        product.name, product.price, product.status = "新名", Decimal("200"), "off_sale"
        product.save()
    with scoped(world.rep_east):
        services.opportunity_lines_set(
            actor=world.rep_east,
            opportunity=opportunity,
            lines=[{"id": line.pk, "product": product, "qty": 2}],
        )
        again = OpportunityLine.objects.get(opportunity=opportunity)
    assert (again.name, again.list_price, again.subtotal) == (
        "旧名",
        Decimal("100"),
        Decimal("200"),
    )
    with scopes_disabled(), pytest.raises(ProtectedError):
        product.delete()


# ---------------------------------------------------------------- contacts


def test_contacts_roles_and_primary(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    a, b = make_contact(customer, "甲"), make_contact(customer, "乙")
    stranger = make_contact(make_customer(world.tenant_a, world.rep_east), "外人")
    opportunity = make_opportunity(world.rep_east, customer)
    role = contact_role(world.tenant_a, "技术评估")
    with scoped(world.rep_east):
        row_a = services.opportunity_contact_add(
            actor=world.rep_east, opportunity=opportunity, contact=a, role=role, is_primary=True
        )
        row_b = services.opportunity_contact_add(
            actor=world.rep_east, opportunity=opportunity, contact=b
        )
        with pytest.raises(ServiceError) as exc:
            services.opportunity_contact_add(
                actor=world.rep_east, opportunity=opportunity, contact=stranger
            )
        assert exc.value.code == "contact"
        with pytest.raises(ServiceError) as exc:
            services.opportunity_contact_add(
                actor=world.rep_east, opportunity=opportunity, contact=a
            )
        assert exc.value.code == "duplicate"
        with pytest.raises(ServiceError) as exc:
            services.opportunity_contact_add(
                actor=world.rep_east,
                opportunity=opportunity,
                contact=make_contact(customer, "丙"),
                role=lost_reason(world.tenant_a),
            )
        assert exc.value.code == "option"
    assert refreshed(opportunity).primary_contact_id == a.pk
    with scoped(world.rep_east):
        services.opportunity_contact_set_primary(
            actor=world.rep_east, opportunity=opportunity, row=row_b.pk
        )
        flags = dict(
            OpportunityContact.objects.filter(opportunity=opportunity).values_list(
                "contact_id", "is_primary"
            )
        )
    assert flags == {a.pk: False, b.pk: True}
    assert refreshed(opportunity).primary_contact_id == b.pk
    with scoped(world.rep_east):
        services.opportunity_contact_remove(
            actor=world.rep_east, opportunity=opportunity, row=row_b
        )
    assert refreshed(opportunity).primary_contact_id is None
    with scopes_disabled():
        assert list(
            OpportunityContact.objects.filter(opportunity=opportunity).values_list(
                "contact_id", flat=True
            )
        ) == [row_a.contact_id]


# ---------------------------------------------------------------- team


def test_team_members_see_it_and_editors_change_it(world, scoped):
    s = stages(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        services.opportunity_participants_add(
            actor=world.rep_east, opportunity=opportunity, users=[world.rep_west]
        )
    fresh = refreshed(opportunity)
    with scoped(world.rep_west):
        assert policies.may_view(world.rep_west, fresh)
        assert not policies.may_edit(world.rep_west, fresh)
        assert policies.may_follow_up(world.rep_west, fresh)
        # Team members see the opportunity, not the customer.
        assert not can_see(world.rep_west, customer)
        with pytest.raises(PermissionRefusedError):
            services.opportunity_stage_change(
                actor=world.rep_west, opportunity=opportunity, stage=s["需求确定"]
            )
    with scoped(world.rep_east):
        services.opportunity_participants_add(
            actor=world.rep_east, opportunity=opportunity, users=[world.rep_west], can_edit=True
        )
    with scoped(world.rep_west):
        services.opportunity_stage_change(
            actor=world.rep_west, opportunity=opportunity, stage=s["需求确定"]
        )
    with scoped(world.rep_east):
        services.opportunity_participant_remove(
            actor=world.rep_east, opportunity=opportunity, user=world.rep_west
        )
    with scoped(world.rep_west):
        assert not policies.may_view(world.rep_west, refreshed(opportunity))
    with scoped(world.rep_east), pytest.raises(NotFoundError):
        services.opportunity_participants_add(
            actor=world.rep_east, opportunity=opportunity, users=[world.rep_b]
        )


# ---------------------------------------------------------------- transfer


def test_transfer_rules(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    mine_too = make_opportunity(world.rep_east, customer)
    # The owner hands over their own; the receiver's department is the new snapshot.
    with scoped(world.rep_east):
        services.opportunity_transfer(
            actor=world.rep_east, opportunities=[opportunity], to_user=world.rep_west
        )
    fresh = refreshed(opportunity)
    assert fresh.owner_id == world.rep_west.pk and fresh.owner_department_id == world.west.pk
    # A rep may not take a colleague's, nor transfer a batch holding one they may not.
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.opportunity_transfer(
            actor=world.rep_east, opportunities=[mine_too, opportunity], to_user=world.rep_east2
        )
    assert exc.value.code == "not_visible"
    assert refreshed(mine_too).owner_id == world.rep_east.pk
    inactive = make_user(world.tenant_a, "gone", is_active=False, department=world.east)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.opportunity_transfer(
            actor=world.manager_sales, opportunities=[opportunity], to_user=inactive
        )
    assert exc.value.code == "inactive"
    with scoped(world.manager_sales), pytest.raises(NotFoundError):
        services.opportunity_transfer(
            actor=world.manager_sales, opportunities=[opportunity], to_user=world.rep_b
        )
    with scoped(world.manager_sales):
        services.opportunity_transfer(
            actor=world.manager_sales,
            opportunities=[opportunity, mine_too],
            to_user=world.rep_east2,
        )
    assert {refreshed(o).owner_id for o in (opportunity, mine_too)} == {world.rep_east2.pk}
    assert "opportunity.transferred" in _actions(opportunity)


def test_a_customer_transferred_with_related_records_takes_only_open_opportunities(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    open_one = make_opportunity(world.rep_east, customer)
    won = make_opportunity(world.rep_east, customer)
    lost = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        services.opportunity_win(actor=world.rep_east, opportunity=won)
        services.opportunity_lose(
            actor=world.rep_east, opportunity=lost, reason=lost_reason(world.tenant_a)
        )
    with scoped(world.manager_sales):
        customer_services.customer_transfer(
            actor=world.manager_sales,
            customers=[customer],
            to_user=world.rep_west,
            with_related=True,
        )
    assert refreshed(open_one).owner_id == world.rep_west.pk
    assert refreshed(open_one).owner_department_id == world.west.pk
    assert refreshed(won).owner_id == world.rep_east.pk
    assert refreshed(lost).owner_id == world.rep_east.pk


def test_a_customer_transferred_alone_leaves_its_opportunities(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.manager_sales):
        customer_services.customer_transfer(
            actor=world.manager_sales, customers=[customer], to_user=world.rep_west
        )
    assert refreshed(opportunity).owner_id == world.rep_east.pk


# ---------------------------------------------------------------- customers' hooks


def test_a_customer_with_opportunities_is_neither_trashed_nor_purged(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    make_opportunity(world.rep_east, customer)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        customer_services.customer_trash(actor=world.admin_a, customers=[customer])
    assert exc.value.code == "protected"
    assert "1" in str(exc.value.message)
    with scopes_disabled():
        assert Customer.objects.get(pk=customer.pk).deleted_at is None


def test_a_merge_moves_the_opportunities_to_the_kept_customer(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east, name="保留客户")
    other = make_customer(world.tenant_a, world.rep_east, name="并入客户")
    contact = make_contact(other)
    opportunity = make_opportunity(world.rep_east, other, primary_contact=contact)
    with scoped(world.admin_a):
        customer_services.customer_merge(actor=world.admin_a, keep=keep, others=[other])
    fresh = refreshed(opportunity)
    assert fresh.customer_id == keep.pk and fresh.primary_contact_id == contact.pk
    with scopes_disabled():
        assert not Customer.objects.filter(pk=other.pk).exists()


def test_follow_ups_on_an_opportunity_keep_their_customer_and_move_its_dates(world, scoped):
    from django.utils import timezone

    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    later = timezone.now() + datetime.timedelta(days=3)
    with scoped(world.rep_east):
        followup = customer_services.followup_create(
            actor=world.rep_east, record=opportunity, content="演示方案", next_followup_at=later
        )
    assert followup.customer_id == customer.pk and followup.record_id == opportunity.pk
    fresh = refreshed(opportunity)
    assert fresh.last_followup_at is not None and fresh.next_followup_at == later
    with scoped(world.rep_east2), pytest.raises(NotFoundError):
        customer_services.followup_create(actor=world.rep_east2, record=opportunity, content="x")


# ---------------------------------------------------------------- delete


def test_delete_rights_and_registered_references(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        customer_services.followup_create(
            actor=world.rep_east, record=opportunity, content="留在客户上"
        )
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.opportunity_delete(actor=world.rep_east, opportunity=opportunity)

    def quoted(row):
        return "报价单 BJ202612070001 引用了它" if row.pk == opportunity.pk else None

    hooks.register_delete_check(quoted)
    try:
        with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
            services.opportunity_delete(actor=world.manager_sales, opportunity=opportunity)
    finally:
        hooks.unregister_delete_check(quoted)
    assert exc.value.code == "protected" and "BJ202612070001" in str(exc.value.message)
    with scoped(world.manager_sales):
        services.opportunity_delete(actor=world.manager_sales, opportunity=opportunity)
    with scopes_disabled():
        assert not Opportunity.objects.filter(pk=opportunity.pk).exists()
        followup = FollowUp.objects.get(customer=customer)
        assert followup.record_id == customer.pk
        assert ActivityLog.objects.filter(
            object_id=customer.pk, action="opportunity.deleted"
        ).exists()


# ---------------------------------------------------------------- selectors


def test_selectors_404_for_other_tenants_and_invisible_rows(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        assert selectors.opportunity_get_for_actor(actor=world.rep_east, pk=opportunity.pk)
    with scoped(world.rep_east2), pytest.raises(Http404):
        selectors.opportunity_get_for_actor(actor=world.rep_east2, pk=opportunity.pk)
    with scoped(world.rep_b), pytest.raises(Http404):
        selectors.opportunity_get_for_actor(actor=world.rep_b, pk=opportunity.pk)
    with scoped(world.manager_sales):
        assert list(selectors.opportunities_visible(world.manager_sales)) == [opportunity]
    with scoped(world.rep_east):
        history = selectors.stage_history(opportunity=opportunity)
    assert [h.to_stage.name for h in history] == ["初步接洽"] and history[0].duration


# ---------------------------------------------------------------- stage settings


def test_stage_settings_rules(world, scoped):
    s = stages(world.tenant_a)
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError):
        services.stage_create(actor=world.manager_sales, data={"name": "试用", "probability": 60})
    with scoped(world.admin_a):
        trial = services.stage_create(actor=world.admin_a, data={"name": "试用", "probability": 60})
        with pytest.raises(ServiceError) as exc:
            services.stage_create(actor=world.admin_a, data={"name": "试用", "probability": 1})
        assert exc.value.code == "duplicate"
        with pytest.raises(ServiceError) as exc:
            services.stage_create(
                actor=world.admin_a, data={"name": "大赢", "probability": 100, "kind": "won"}
            )
        assert exc.value.code == "kind"
        order = list(
            OpportunityStage.objects.filter(tenant=world.tenant_a)
            .order_by("sort", "id")
            .values_list("name", flat=True)
        )
        assert order == ["初步接洽", "需求确定", "方案/报价", "谈判/合同", "试用", "赢单", "输单"]
        services.stage_move(actor=world.admin_a, stage=trial, up=True)
        order = list(
            OpportunityStage.objects.filter(tenant=world.tenant_a)
            .order_by("sort", "id")
            .values_list("name", flat=True)
        )
        assert order == ["初步接洽", "需求确定", "方案/报价", "试用", "谈判/合同", "赢单", "输单"]
        for end in ("赢单", "输单"):
            with pytest.raises(ServiceError) as exc:
                services.stage_delete(actor=world.admin_a, stage=s[end])
            assert exc.value.code == "end_stage"
            with pytest.raises(ServiceError) as exc:
                services.stage_update(actor=world.admin_a, stage=s[end], data={"is_active": False})
            assert exc.value.code == "end_stage"
        services.stage_update(
            actor=world.admin_a, stage=s["赢单"], data={"allow_reopen": True, "name": "成交"}
        )
        services.stage_delete(actor=world.admin_a, stage=trial)
    assert end_stage(world.tenant_a, "won").name == "成交"
    customer = make_customer(world.tenant_a, world.rep_east)
    make_opportunity(world.rep_east, customer, stage=s["需求确定"])
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.stage_delete(actor=world.admin_a, stage=s["需求确定"])
    assert exc.value.code == "in_use"
    with scoped(world.admin_a):
        for name in ("初步接洽", "需求确定", "方案/报价"):
            services.stage_update(actor=world.admin_a, stage=s[name], data={"is_active": False})
        with pytest.raises(ServiceError) as exc:
            services.stage_update(
                actor=world.admin_a, stage=s["谈判/合同"], data={"is_active": False}
            )
        assert exc.value.code == "last_open"
        with pytest.raises(ServiceError) as exc:
            services.stage_delete(actor=world.admin_a, stage=s["谈判/合同"])
        assert exc.value.code == "last_open"


def test_settings_update(world, scoped):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.settings_update(
            actor=world.rep_east, stage_mode="strict", probability_override=True
        )
    with scoped(world.admin_a):
        with pytest.raises(ServiceError):
            services.settings_update(
                actor=world.admin_a, stage_mode="x", probability_override=False
            )
        services.settings_update(
            actor=world.admin_a, stage_mode="strict", probability_override=True
        )
    with scopes_disabled():
        settings = OpportunitySettings.objects.get(tenant=world.tenant_a)
        other = OpportunitySettings.objects.get(tenant=world.tenant_b)
    assert (settings.stage_mode, settings.probability_override) == ("strict", True)
    assert other.stage_mode == "free"


def test_a_tenant_created_later_gets_its_own_defaults(db):
    tenant = TenantFactory(name="丙公司", slug="gamma")
    with scopes_disabled():
        assert OpportunityStage.objects.filter(tenant=tenant).count() == 6
        assert OpportunitySettings.objects.filter(tenant=tenant).count() == 1


def test_the_closed_date_is_the_tenants_day_not_the_servers(world, scoped):
    """Won at 01:30 Shanghai time on 8 December by a tenant in New York: its day there is
    still 7 December (the reports count closed dates in the tenant's days)."""
    from unittest import mock

    from django.utils import timezone

    with scopes_disabled():
        world.tenant_a.time_zone = "America/New_York"
        world.tenant_a.save(update_fields=["time_zone"])
        world.rep_east.refresh_from_db()
    moment = datetime.datetime(2026, 12, 7, 17, 30, tzinfo=datetime.UTC)  # 01:30 in Shanghai
    customer = make_customer(world.tenant_a, world.rep_east)
    opportunity = make_opportunity(world.rep_east, customer)
    lost = make_opportunity(world.rep_east, customer)
    reason = lost_reason(world.tenant_a)
    with scoped(world.rep_east), mock.patch.object(timezone, "now", return_value=moment):
        services.opportunity_win(actor=world.rep_east, opportunity=opportunity)
        services.opportunity_lose(actor=world.rep_east, opportunity=lost, reason=reason)
    assert refreshed(opportunity).closed_date == datetime.date(2026, 12, 7)
    assert refreshed(lost).closed_date == datetime.date(2026, 12, 7)
