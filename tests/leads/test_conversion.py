"""转为客户 (leads.conversion): what a conversion does, the merge path, every refusal with
its exact code, and the batch (all or nothing)."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, ServiceError
from crm.models import OptionKind
from customers import owned
from customers import services as customer_services
from customers.models import Attachment, Contact, Customer, FollowUp, OwnershipEvent
from leads import activity_actions as actions
from leads import conversion
from leads.models import Lead, LeadEvent
from tests.customers.factories import (
    events,
    fresh,
    logs,
    make_contact,
    make_customer,
    make_followup,
    notifications,
    option,
)
from tests.factories import make_user
from tests.leads.factories import (
    make_lead,
    make_lead_followup,
    make_lead_pool,
    make_pooled_lead,
)

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def make_file(*, lead=None, customer=None, name="资料.pdf"):
    subject = lead or customer
    with scopes_disabled():
        attachment = Attachment(
            tenant_id=subject.tenant_id,
            record=subject,
            customer=customer,
            original_name=name,
            size=5,
            content_type="application/pdf",
            uploaded_by=subject.owner,
        )
        attachment.file.save(name, ContentFile(b"%PDF-"), save=False)
        attachment.save()
        return attachment


def convert(actor, lead, scoped, **kwargs):
    with scoped(actor):
        return conversion.lead_convert(actor=actor, lead=lead, **kwargs)


def refused(actor, lead, scoped, code, **kwargs):
    # A lead or customer of another tenant is "missing" (NotFoundError), never a refusal.
    with pytest.raises(NotFoundError if code == "not_found" else ServiceError) as exc:
        convert(actor, lead, scoped, **kwargs)
    assert exc.value.code == code, exc.value.message
    return exc.value


def customers_of(tenant):
    with scopes_disabled():
        return list(Customer.objects.filter(tenant=tenant).order_by("pk"))


# ---------------------------------------------------------------- a new customer


def test_convert_creates_customer_with_contact_converted_event_and_links(world, scoped):
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        "王经理",
        company="华光机械有限公司",
        mobile="13812345678",
        phone="021-55550000",
        email="wang@example.com",
        title="采购经理",
        source=source,
        province="上海",
        city="上海市",
        district="浦东新区",
        address="张江路1号",
        remark="展会认识",
    )
    customer = convert(world.rep_east, lead, scoped)

    customer = fresh(customer)
    assert customer.name == "华光机械有限公司"
    assert customer.owner_id == world.rep_east.pk
    assert customer.source_id == source.pk
    assert (customer.province, customer.city, customer.district, customer.address) == (
        "上海",
        "上海市",
        "浦东新区",
        "张江路1号",
    )
    assert customer.remark == "展会认识"
    assert customer.pooled_at is None
    with scopes_disabled():
        [contact] = Contact.objects.filter(customer=customer)
    assert (contact.name, contact.mobile, contact.phone, contact.email, contact.title) == (
        "王经理",
        "13812345678",
        "021-55550000",
        "wang@example.com",
        "采购经理",
    )
    # 线索转换, not 手动新建: the increment report counts it as won from a lead.
    assert [e.kind for e in events(customer)] == [OwnershipEvent.Kind.CONVERTED]
    assert events(customer)[0].to_user_id == world.rep_east.pk
    lead = fresh(lead)
    assert lead.status == Lead.Status.CONVERTED
    assert lead.customer_id == customer.pk
    assert lead.converted_by_id == world.rep_east.pk
    assert lead.converted_at is not None
    assert lead.owner_id == world.rep_east.pk  # the owner does not change
    with scopes_disabled():
        [event] = LeadEvent.objects.filter(lead=lead)
        assert list(customer.leads.all()) == [lead]
    assert event.kind == LeadEvent.Kind.CONVERTED
    assert (event.from_user_id, event.to_user_id, event.actor_id) == (
        world.rep_east.pk,
        world.rep_east.pk,
        world.rep_east.pk,
    )
    assert len(logs(lead, actions.LEAD_CONVERTED)) == 1
    assert len(logs(customer, actions.CUSTOMER_FROM_LEAD)) == 1


def test_lead_without_company_becomes_a_customer_named_after_the_person(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, "李四", company="")
    customer = convert(world.rep_east, lead, scoped)
    assert customer.name == "李四"


def test_the_new_customers_name_and_the_contact_are_the_users_choice(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, "张三", company="张三公司")
    customer = convert(world.rep_east, lead, scoped, data={"name": "张三贸易"}, contact=False)
    assert fresh(customer).name == "张三贸易"
    with scopes_disabled():
        assert not Contact.objects.filter(customer=customer).exists()


def test_conversion_creates_even_when_a_customer_of_that_name_exists(world, scoped):
    """The page asked; the service creates when told to (duplicates are confirmed)."""
    make_customer(world.tenant_a, world.rep_west, "同名公司")
    lead = make_lead(world.tenant_a, world.rep_east, company="同名公司")
    customer = convert(world.rep_east, lead, scoped)
    assert [c.name for c in customers_of(world.tenant_a)] == ["同名公司", "同名公司"]
    assert customer.owner_id == world.rep_east.pk


def test_manager_converting_a_reps_lead_gives_the_customer_to_the_rep(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, company="经理转换的公司")
    customer = convert(world.manager_sales, lead, scoped)
    assert fresh(customer).owner_id == world.rep_east.pk
    assert events(customer)[0].actor_id == world.manager_sales.pk
    assert fresh(lead).converted_by_id == world.manager_sales.pk
    assert any("经理转换的公司" in n.title for n in notifications(world.rep_east))


def test_followups_and_files_move_to_the_customer_and_stay_on_the_lead(world, scoped):
    now = timezone.now()
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        company="有历史的公司",
        last_followup_at=now - DAY,
        next_followup_at=now + 3 * DAY,
    )
    first = make_lead_followup(lead, world.rep_east, "第一次电话", followed_at=now - 2 * DAY)
    second = make_lead_followup(lead, world.rep_east, "第二次拜访", followed_at=now - DAY)
    file = make_file(lead=lead)
    customer = convert(world.rep_east, lead, scoped)

    for row in (first, second, file):
        row = fresh(row)
        assert (row.customer_id, row.record) == (customer.pk, lead)
    customer = fresh(customer)
    assert customer.last_followup_at == now - DAY
    assert customer.next_followup_at == now + 3 * DAY
    with scopes_disabled():
        assert FollowUp.objects.filter(owned.on(lead)).count() == 2


# ---------------------------------------------------------------- merging


def test_merge_into_an_existing_customer(world, scoped):
    now = timezone.now()
    existing = make_customer(
        world.tenant_a,
        world.rep_east,
        "老客户有限公司",
        last_followup_at=now - 5 * DAY,
        next_followup_at=now + 10 * DAY,
    )
    make_contact(existing, "老联系人", mobile="13900000000")
    make_followup(existing, world.rep_east, "老跟进")
    lead = make_lead(
        world.tenant_a,
        world.rep_east,
        "新联系人",
        company="老客户有限公司",
        mobile="13811112222",
        last_followup_at=now - DAY,
        next_followup_at=now + 2 * DAY,
    )
    followup = make_lead_followup(lead, world.rep_east, "线索跟进", followed_at=now - DAY)
    before = len(events(existing))

    customer = convert(world.rep_east, lead, scoped, customer=existing)

    assert customer.pk == existing.pk
    assert len(customers_of(world.tenant_a)) == 1
    with scopes_disabled():
        assert sorted(Contact.objects.filter(customer=existing).values_list("name", flat=True)) == [
            "新联系人",
            "老联系人",
        ]
        assert FollowUp.objects.filter(customer=existing).count() == 2
    assert fresh(followup).customer_id == existing.pk
    existing = fresh(existing)
    assert existing.last_followup_at == now - DAY
    assert existing.next_followup_at == now + 2 * DAY  # the earliest planned one
    # No owner changes in a merge: no ownership event (the customer is not new).
    assert len(events(existing)) == before
    assert fresh(lead).customer_id == existing.pk
    assert fresh(lead).status == Lead.Status.CONVERTED
    with scopes_disabled():
        assert LeadEvent.objects.get(lead=lead).kind == LeadEvent.Kind.CONVERTED
    assert len(logs(existing, actions.CUSTOMER_LEAD_MERGED)) == 1


def test_merge_does_not_duplicate_a_contact_with_the_same_mobile(world, scoped):
    existing = make_customer(world.tenant_a, world.rep_east, "同一个人公司")
    make_contact(existing, "王五", mobile="13822223333")
    lead = make_lead(world.tenant_a, world.rep_east, "王五", mobile="13822223333")
    convert(world.rep_east, lead, scoped, customer=existing)
    with scopes_disabled():
        assert Contact.objects.filter(customer=existing).count() == 1


def test_files_that_do_not_fit_refuse_the_whole_conversion(world, scoped):
    existing = make_customer(world.tenant_a, world.rep_east, "文件满的公司")
    for i in range(9):
        make_file(customer=existing, name=f"客户{i}.pdf")
    lead = make_lead(world.tenant_a, world.rep_east, company="文件满的公司")
    files = [make_file(lead=lead, name=f"线索{i}.pdf") for i in range(2)]
    make_lead_followup(lead, world.rep_east)

    error = refused(world.rep_east, lead, scoped, "too_many_files", customer=existing)
    assert "1" in str(error.message)  # how many could move
    assert fresh(lead).status == Lead.Status.NEW
    assert all(fresh(f).customer_id is None for f in files)
    with scopes_disabled():
        assert not FollowUp.objects.filter(customer=existing).exists()
        assert not LeadEvent.objects.filter(lead=lead).exists()
    # Ten fit exactly.
    files[1].delete()
    convert(world.rep_east, lead, scoped, customer=existing)
    with scopes_disabled():
        assert Attachment.objects.filter(customer=existing).count() == 10


# ---------------------------------------------------------------- refusals


def test_refused_without_the_convert_permission(world, scoped):
    clerk = make_user(world.tenant_a, "clerk", role="after_sales", department=world.service)
    lead = make_lead(world.tenant_a, clerk)
    refused(clerk, lead, scoped, "permission")
    assert fresh(lead).status == Lead.Status.NEW


def test_refused_for_a_lead_the_actor_does_not_see(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east2)
    refused(world.rep_east, lead, scoped, "not_visible")
    assert customers_of(world.tenant_a) == []


def test_refused_for_another_tenants_lead(world, scoped):
    lead = make_lead(world.tenant_b, world.rep_b)
    refused(world.admin_a, lead, scoped, "not_found")
    assert fresh(lead).status == Lead.Status.NEW


def test_refused_for_another_tenants_customer(world, scoped):
    theirs = make_customer(world.tenant_b, world.rep_b, "乙的客户")
    lead = make_lead(world.tenant_a, world.rep_east, company="乙的客户")
    refused(world.admin_a, lead, scoped, "not_found", customer=theirs)
    assert fresh(lead).status == Lead.Status.NEW


def test_refused_for_a_merge_target_the_actor_does_not_see(world, scoped):
    hidden = make_customer(world.tenant_a, world.rep_west, "看不见的客户")
    lead = make_lead(world.tenant_a, world.rep_east, company="看不见的客户")
    refused(world.rep_east, lead, scoped, "customer_not_visible", customer=hidden)
    assert fresh(lead).customer_id is None


def test_refused_for_a_merge_target_in_the_recycle_bin(world, scoped):
    binned = make_customer(world.tenant_a, world.rep_east, "回收站客户", deleted_at=timezone.now())
    lead = make_lead(world.tenant_a, world.rep_east)
    refused(world.rep_east, lead, scoped, "customer_not_visible", customer=binned)


def test_refused_for_a_merge_target_the_actor_may_only_read(world, scoped):
    public = make_customer(world.tenant_a, world.rep_west, "公开客户", visibility="public")
    lead = make_lead(world.tenant_a, world.rep_east, company="公开客户")
    refused(world.rep_east, lead, scoped, "customer_not_editable", customer=public)
    assert fresh(lead).status == Lead.Status.NEW


def test_refused_for_a_closed_lead(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    refused(world.rep_east, lead, scoped, "closed")


def test_refused_for_a_converted_lead(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    convert(world.rep_east, lead, scoped)
    refused(world.rep_east, fresh(lead), scoped, "converted")
    assert len(customers_of(world.tenant_a)) == 1


def test_refused_for_a_pooled_lead_until_claimed(world, scoped):
    group = make_lead_pool(world.tenant_a)
    lead = make_pooled_lead(group)
    refused(world.admin_a, lead, scoped, "pooled")
    refused(world.rep_east, lead, scoped, "pooled")  # a member sees it, and must claim it


def test_refused_for_a_lead_without_owner(world, scoped):
    lead = make_lead(world.tenant_a, None)
    refused(world.admin_a, lead, scoped, "pooled")


def test_converted_lead_is_read_only_for_the_lead_services(world, scoped):
    from leads import services as lead_services

    lead = make_lead(world.tenant_a, world.rep_east)
    convert(world.rep_east, lead, scoped)
    if not hasattr(lead_services, "lead_update"):
        pytest.skip("the lead services are not there yet")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        lead_services.lead_update(actor=world.rep_east, lead=fresh(lead), data={"name": "改名"})
    assert exc.value.code == "converted"


# ---------------------------------------------------------------- batch


def batch(actor, leads, scoped):
    with scoped(actor):
        return conversion.lead_convert_batch(actor=actor, leads=leads)


def test_batch_merges_single_matches_and_creates_the_others(world, scoped):
    existing = make_customer(world.tenant_a, world.rep_east, "（上海）批量老客户")
    matching = make_lead(world.tenant_a, world.rep_east, company="上海 批量老客户")
    new = make_lead(world.tenant_a, world.rep_east, company="批量新客户")
    twin = make_lead(world.tenant_a, world.rep_east2, company="批量新客户")  # same company

    result = batch(world.manager_sales, [matching, new.pk, twin], scoped)

    assert result[0].pk == existing.pk
    names = sorted(c.name for c in customers_of(world.tenant_a))
    assert names == ["批量新客户", "（上海）批量老客户"]
    created = next(c for c in customers_of(world.tenant_a) if c.name == "批量新客户")
    # The second lead of the same company joins the customer the first one created.
    assert fresh(new).customer_id == fresh(twin).customer_id == created.pk
    assert all(fresh(lead).status == Lead.Status.CONVERTED for lead in (matching, new, twin))
    assert [e.kind for e in events(created)] == [OwnershipEvent.Kind.CONVERTED]


def test_batch_creates_a_new_customer_when_several_match(world, scoped):
    make_customer(world.tenant_a, world.rep_east, "两个同名")
    make_customer(world.tenant_a, world.rep_east, "两个同名")
    lead = make_lead(world.tenant_a, world.rep_east, company="两个同名")
    [customer] = batch(world.rep_east, [lead], scoped)
    assert len(customers_of(world.tenant_a)) == 3
    assert events(customer)[0].kind == OwnershipEvent.Kind.CONVERTED


def test_batch_ignores_customers_the_actor_does_not_see(world, scoped):
    hidden = make_customer(world.tenant_a, world.rep_west, "别人的同名客户")
    lead = make_lead(world.tenant_a, world.rep_east, company="别人的同名客户")
    [customer] = batch(world.rep_east, [lead], scoped)
    assert customer.pk != hidden.pk
    assert customer.owner_id == world.rep_east.pk


@pytest.mark.parametrize(
    ("spoiler", "code"),
    [
        ("closed", "closed"),
        ("converted", "converted"),
        ("pooled", "pooled"),
        ("invisible", "not_visible"),
        ("other_tenant", "not_visible"),
        ("read_only_match", "customer_not_editable"),
    ],
)
def test_batch_is_all_or_nothing(world, scoped, spoiler, code):
    good = make_lead(world.tenant_a, world.rep_east, company="好线索公司")
    good_followup = make_lead_followup(good, world.rep_east)
    if spoiler == "closed":
        bad = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    elif spoiler == "converted":
        bad = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    elif spoiler == "pooled":
        bad = make_pooled_lead(make_lead_pool(world.tenant_a))
    elif spoiler == "invisible":
        bad = make_lead(world.tenant_a, world.rep_west)
    elif spoiler == "other_tenant":
        bad = make_lead(world.tenant_b, world.rep_b)
    else:
        make_customer(world.tenant_a, world.rep_west, "只读同名", visibility="public")
        bad = make_lead(world.tenant_a, world.rep_east, company="只读同名")
    with pytest.raises(ServiceError) as exc:
        batch(world.rep_east, [good, bad], scoped)
    assert exc.value.code == code, exc.value.message
    assert fresh(good).status == Lead.Status.NEW
    assert fresh(good).customer_id is None
    assert fresh(good_followup).customer_id is None
    names = [c.name for c in customers_of(world.tenant_a)]
    assert "好线索公司" not in names
    with scopes_disabled():
        assert not LeadEvent.objects.filter(lead=good).exists()


def test_batch_refusals_for_nothing_and_for_no_permission(world, scoped):
    with pytest.raises(ServiceError) as exc:
        batch(world.rep_east, [], scoped)
    assert exc.value.code == "empty"
    lead = make_lead(world.tenant_a, world.service_a)
    with pytest.raises(ServiceError) as exc:
        batch(world.service_a, [lead], scoped)
    assert exc.value.code == "permission"


# ---------------------------------------------------------------- customers merged or purged


def test_customer_merge_carries_converted_leads_to_the_kept_customer(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east, "保留的客户")
    lead = make_lead(world.tenant_a, world.rep_east, company="被合并的客户")
    gone = convert(world.rep_east, lead, scoped)
    with scoped(world.admin_a):
        customer_services.customer_merge(actor=world.admin_a, keep=keep, others=[gone])
    assert fresh(lead).customer_id == keep.pk
    with scopes_disabled():
        assert FollowUp.objects.filter(owned.on(lead)).exclude(customer=keep).count() == 0


def test_purging_a_customer_leaves_its_leads_with_their_history(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, company="要清除的客户")
    followup = make_lead_followup(lead, world.rep_east, "保留在线索上")
    file = make_file(lead=lead)
    customer = convert(world.rep_east, lead, scoped)
    with scoped(world.admin_a):
        customer_services.customer_trash(actor=world.admin_a, customers=[customer])
        customer_services.customer_purge(actor=world.admin_a, customers=[customer])
    with scopes_disabled():
        assert not Customer.objects.filter(pk=customer.pk).exists()
    lead = fresh(lead)
    assert lead.customer_id is None  # SET_NULL
    assert lead.status == Lead.Status.CONVERTED
    # What was the lead's too stays on the lead (only the customer's own rows go).
    assert (fresh(followup).customer_id, fresh(followup).record) == (None, lead)
    assert (fresh(file).customer_id, fresh(file).record) == (None, lead)
