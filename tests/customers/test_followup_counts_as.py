"""What a follow-up counts as in the follow-up statistics (FollowUp.counts_as, read by
reports.followups without joining the customers): set by followup_create, kept by every
customer service that changes a lifecycle, trashes, restores or merges; a lead's follow-ups
stay the lead's."""

from __future__ import annotations

from django_scopes import scopes_disabled

from customers import services
from customers.models import Customer, FollowUp
from leads.services import lead_for_work
from tests.customers.factories import make_customer, make_followup
from tests.leads.factories import make_lead, make_lead_followup

DEV = Customer.Lifecycle.DEVELOPMENT
SIGNED = Customer.Lifecycle.SIGNED


def counts(*followups) -> list[str]:
    with scopes_disabled():
        return [FollowUp.objects.get(pk=f.pk).counts_as for f in followups]


def test_followup_create_sets_the_customers_lifecycle_or_lead(world, scoped):
    signed = make_customer(world.tenant_a, world.rep_east, "签约", lifecycle=SIGNED)
    lead = make_lead(world.tenant_a, world.rep_east, customer=signed)
    with scoped(world.rep_east):
        on_customer = services.followup_create(actor=world.rep_east, record=signed, content="a")
        on_lead = services.followup_create(
            actor=world.rep_east,
            record=lead_for_work(actor=world.rep_east, lead=lead),
            content="b",
        )
    assert counts(on_customer, on_lead) == [SIGNED, FollowUp.LEAD]
    assert on_lead.customer_id == signed.pk  # the converted lead's row is its customer's too


def test_signing_and_signing_back_recount_the_customers_follow_ups_but_not_the_leads(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east)
    own = make_followup(customer, world.rep_east)
    lead = make_lead(world.tenant_a, world.rep_east, customer=customer)
    from_lead = make_lead_followup(lead, world.rep_east)
    other = make_followup(make_customer(world.tenant_a, world.rep_east), world.rep_east)
    with scoped(world.admin_a):
        services.customer_mark_signed(actor=world.admin_a, customer=customer)
        assert counts(own, from_lead, other) == [SIGNED, FollowUp.LEAD, DEV]
        services.customer_back_to_development(actor=world.admin_a, customer=customer)
    assert counts(own, from_lead, other) == [DEV, FollowUp.LEAD, DEV]


def test_the_recycle_bin_takes_them_out_and_a_restore_puts_them_back(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, lifecycle=SIGNED)
    own = make_followup(customer, world.rep_east)
    with scoped(world.admin_a):
        services.customer_trash(actor=world.admin_a, customers=[customer])
        assert counts(own) == [""]
        services.customer_restore(actor=world.admin_a, customers=[customer])
    assert counts(own) == [SIGNED]


def test_merged_follow_ups_count_as_the_kept_customers(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east)
    other = make_customer(world.tenant_a, world.rep_east, lifecycle=SIGNED)
    moved = make_followup(other, world.rep_east)
    assert counts(moved) == [SIGNED]
    with scoped(world.admin_a):
        services.customer_merge(actor=world.admin_a, keep=keep, others=[other])
    assert counts(moved) == [DEV]
    with scopes_disabled():
        assert FollowUp.objects.get(pk=moved.pk).customer_id == keep.pk


def test_an_opportunity_follow_up_moves_its_customers_last_follow_up_but_a_leads_does_not(
    world, scoped
):
    import datetime

    from django.utils import timezone

    from tests.opportunities.factories import make_opportunity

    earlier = timezone.now() - datetime.timedelta(days=40)
    customer = make_customer(world.tenant_a, world.rep_east, last_followup_at=earlier)
    chance = make_opportunity(world.rep_east, customer)
    with scoped(world.rep_east):
        row = services.followup_create(actor=world.rep_east, record=chance, content="报价沟通")
    with scopes_disabled():
        customer.refresh_from_db()
    assert customer.last_followup_at == row.followed_at  # the pool's clock starts again
    assert counts(row) == [DEV]

    other = make_customer(world.tenant_a, world.rep_east, last_followup_at=earlier)
    lead = make_lead(world.tenant_a, world.rep_east, customer=other)
    with scoped(world.rep_east):
        services.followup_create(
            actor=world.rep_east,
            record=lead_for_work(actor=world.rep_east, lead=lead),
            content="线索跟进",
        )
    with scopes_disabled():
        other.refresh_from_db()
    assert other.last_followup_at == earlier
