"""Lead services (CORE): create, update, transfer, status, close/reopen, follow-ups and
files on leads — what each does and each refusal, with its exact code."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, OptionKind
from customers import owned
from customers import services as customer_services
from customers.models import Attachment, FollowUp
from leads import services
from leads.models import Lead, LeadEvent
from tests.customers.factories import make_contact, make_customer, option
from tests.leads.factories import make_campaign, make_lead, make_lead_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _code(excinfo) -> str:
    return excinfo.value.code


def _events(lead):
    with scopes_disabled():
        return list(
            LeadEvent.objects.filter(lead=lead).order_by("id").values_list("kind", flat=True)
        )


def _reload(lead):
    with scopes_disabled():
        return Lead.objects.get(pk=lead.pk)


# ---------------------------------------------------------------- lead_create


def test_create_owned_by_the_actor_with_event_and_activity(world, scoped):
    campaign = make_campaign(world.tenant_a, "春季展会")
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE)
    with scoped(world.rep_east):
        lead = services.lead_create(
            actor=world.rep_east,
            data={
                "name": " 张三 ",
                "company": "东方机械（上海）",
                "mobile": "+86 138-0013-8000",
                "source": source,
                "campaign": campaign,
            },
        )
        assert lead.owner == world.rep_east and lead.created_by == world.rep_east
        assert lead.name == "张三" and lead.mobile == "13800138000"
        assert lead.status == Lead.Status.NEW and lead.owned_since is not None
        assert lead.pooled_at is None and lead.company_normalized == "东方机械上海"
        event = LeadEvent.objects.get(lead=lead)
        assert (event.kind, event.to_user, event.actor) == (
            "created",
            world.rep_east,
            world.rep_east,
        )
        assert ActivityLog.objects.filter(object_id=lead.pk, action="lead.created").exists()


def test_create_for_another_user_needs_the_transfer_right(world, scoped):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.lead_create(actor=world.rep_east, data={"name": "甲"}, owner=world.rep_west)
    with scoped(world.manager_sales):
        lead = services.lead_create(
            actor=world.manager_sales, data={"name": "乙"}, owner=world.rep_west
        )
        assert lead.owner == world.rep_west


def test_create_refused_for_an_inactive_owner(world, scoped):
    world.rep_west.is_active = False
    world.rep_west.save()
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.lead_create(actor=world.manager_sales, data={"name": "乙"}, owner=world.rep_west)
    assert _code(exc) == "inactive"


def test_create_refused_for_an_owner_of_another_tenant(world, scoped):
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.lead_create(actor=world.admin_a, data={"name": "乙"}, owner=world.rep_b)
    assert _code(exc) == "not_found"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"name": "  "}, "required"),
        ({"name": "甲", "mobile": "12345"}, "invalid_mobile"),
        ({"name": "甲", "phone": "abc"}, "invalid_phone"),
    ],
)
def test_create_refused_for_bad_fields(world, scoped, data, code):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.lead_create(actor=world.rep_east, data=data)
    assert _code(exc) == code


def test_create_refused_for_an_option_of_the_wrong_list_or_tenant(world, scoped):
    wrong = option(world.tenant_a, OptionKind.INDUSTRY)
    foreign = option(world.tenant_b, OptionKind.CUSTOMER_SOURCE)
    foreign_campaign = make_campaign(world.tenant_b)
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            services.lead_create(actor=world.rep_east, data={"name": "甲", "source": wrong})
        assert _code(exc) == "option"
        with pytest.raises(NotFoundError) as exc:
            services.lead_create(actor=world.rep_east, data={"name": "甲", "source": foreign})
        assert _code(exc) == "not_found"
        with pytest.raises(NotFoundError) as exc:
            services.lead_create(
                actor=world.rep_east, data={"name": "甲", "campaign": foreign_campaign}
            )
        assert _code(exc) == "not_found"


def test_create_without_owner_goes_into_the_default_lead_pool(world, scoped, monkeypatch):
    pool = make_lead_pool(world.tenant_a, is_default=True)
    calls = []
    monkeypatch.setattr("leads.assignment.auto_assign", lambda **kw: calls.append(kw) or {})
    with scoped(world.rep_east):
        lead = services.lead_create(actor=world.rep_east, data={"name": "池中人"}, owner=None)
        assert lead.owner is None and lead.pool_group == pool and lead.pooled_at is not None
        assert lead.pool_reason == "created"
        event = LeadEvent.objects.get(lead=lead)
        assert event.kind == "created" and event.to_user is None and event.pool_group == pool
    assert calls == [{"leads": [lead], "trigger": "create", "actor": world.rep_east}]


def test_create_with_an_owner_does_not_auto_assign(world, scoped, monkeypatch):
    calls = []
    monkeypatch.setattr("leads.assignment.auto_assign", lambda **kw: calls.append(kw) or {})
    with scoped(world.rep_east):
        services.lead_create(actor=world.rep_east, data={"name": "甲"})
    assert calls == []


def test_duplicate_mobile_among_leads_is_refused_until_confirmed(world, scoped):
    make_lead(world.tenant_a, world.rep_west, mobile="13800138000", company="别家")
    with scoped(world.rep_east):
        with pytest.raises(services.DuplicateLeadError) as exc:
            services.lead_create(
                actor=world.rep_east, data={"name": "甲", "mobile": "138 0013 8000"}
            )
        assert _code(exc) == "duplicate" and len(exc.value.leads) == 1
        lead = services.lead_create(
            actor=world.rep_east,
            data={"name": "甲", "mobile": "13800138000"},
            confirm_duplicates=True,
        )
        assert lead.pk


def test_duplicate_company_among_leads_and_customers(world, scoped):
    make_lead(world.tenant_a, world.rep_west, company="东方机械有限公司")
    make_customer(world.tenant_a, world.rep_west, "东方机械有限公司")
    with scoped(world.rep_east), pytest.raises(services.DuplicateLeadError) as exc:
        services.lead_create(
            actor=world.rep_east, data={"name": "甲", "company": "东方机械 有限公司"}
        )
    assert len(exc.value.leads) == 1 and len(exc.value.customers) == 1


def test_duplicate_phone_among_customers_contacts(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_west, "某客户")
    make_contact(customer, "联系人", mobile="13900139000")
    with scoped(world.rep_east), pytest.raises(services.DuplicateLeadError) as exc:
        services.lead_create(actor=world.rep_east, data={"name": "甲", "mobile": "13900139000"})
    assert [c.pk for c in exc.value.customers] == [customer.pk] and exc.value.leads == []


def test_duplicates_of_another_tenant_do_not_count(world, scoped):
    make_lead(world.tenant_b, world.rep_b, mobile="13800138000", company="东方机械")
    make_customer(world.tenant_b, world.rep_b, "东方机械")
    with scoped(world.rep_east):
        lead = services.lead_create(
            actor=world.rep_east,
            data={"name": "甲", "mobile": "13800138000", "company": "东方机械"},
        )
    assert lead.pk


# ---------------------------------------------------------------- lead_update


def test_update_by_owner_records_changes(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, company="旧名")
    with scoped(world.rep_east):
        services.lead_update(
            actor=world.rep_east, lead=lead, data={"company": "新名", "title": "经理"}
        )
        lead = _reload(lead)
        assert (lead.company, lead.title, lead.updated_by) == ("新名", "经理", world.rep_east)
        entry = ActivityLog.objects.get(object_id=lead.pk, action="lead.updated")
        assert entry.changes["company"] == ["旧名", "新名"]


def test_update_by_the_owners_manager(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.manager_sales):
        services.lead_update(actor=world.manager_sales, lead=lead, data={"title": "总监"})
    assert _reload(lead).title == "总监"


@pytest.mark.parametrize("persona", ["rep_east2", "rep_west", "service_a"])
def test_update_refused_for_users_outside_the_owners_scope(world, scoped, persona):
    lead = make_lead(world.tenant_a, world.rep_east)
    actor = getattr(world, persona)
    with scoped(actor), pytest.raises(ServiceError) as exc:
        services.lead_update(actor=actor, lead=lead, data={"title": "x"})
    assert _code(exc) == "not_visible"


def test_update_refused_for_another_tenants_lead(world, scoped):
    lead = make_lead(world.tenant_b, world.rep_b)
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.lead_update(actor=world.admin_a, lead=lead, data={"title": "x"})
    assert _code(exc) == "not_found"


def test_update_refused_for_a_converted_lead(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.lead_update(actor=world.rep_east, lead=lead, data={"title": "x"})
    assert _code(exc) == "converted"


def test_update_checks_duplicates_only_for_changed_numbers(world, scoped):
    make_lead(world.tenant_a, world.rep_west, mobile="13800138000", company="别家")
    lead = make_lead(world.tenant_a, world.rep_east, mobile="13800138000", company="自家")
    with scoped(world.rep_east):
        # Unchanged number: no warning.
        services.lead_update(actor=world.rep_east, lead=lead, data={"mobile": "13800138000"})
        with pytest.raises(services.DuplicateLeadError):
            services.lead_update(actor=world.rep_east, lead=lead, data={"company": "别家"})


# ---------------------------------------------------------------- lead_transfer


def test_owner_hands_over_own_leads(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        services.lead_transfer(
            actor=world.rep_east, leads=[lead.pk], to_user=world.rep_west, note="换区"
        )
    lead = _reload(lead)
    assert lead.owner == world.rep_west
    assert _events(lead) == ["transferred"]
    with scopes_disabled():
        assert ActivityLog.objects.filter(object_id=lead.pk, action="lead.transferred").exists()


def test_transfer_batch_by_manager_is_all_or_nothing(world, scoped):
    mine = make_lead(world.tenant_a, world.rep_east)
    other_dept = make_lead(world.tenant_a, world.service_a)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.lead_transfer(
            actor=world.manager_sales, leads=[mine.pk, other_dept.pk], to_user=world.rep_west
        )
    assert _code(exc) == "not_visible"
    assert _reload(mine).owner == world.rep_east and _events(mine) == []


def test_transfer_of_someone_elses_lead_needs_the_right(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east2)
    # The manager's scope covers rep_east2; without lead.transfer he may not hand it over.
    role = world.manager_sales.role
    role.permissions = [c for c in role.permissions if c != "lead.transfer"]
    role.save()
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError):
        services.lead_transfer(actor=world.manager_sales, leads=[lead], to_user=world.rep_west)


def test_transfer_refused_to_an_inactive_user_and_for_converted_leads(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    world.rep_west.is_active = False
    world.rep_west.save()
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            services.lead_transfer(actor=world.rep_east, leads=[lead], to_user=world.rep_west)
        assert _code(exc) == "inactive"
        with pytest.raises(ServiceError) as exc:
            services.lead_transfer(
                actor=world.rep_east, leads=[lead, converted], to_user=world.rep_east2
            )
        assert _code(exc) == "converted"
    assert _reload(lead).owner == world.rep_east


def test_transfer_refused_for_empty_batch_and_other_tenant(world, scoped):
    foreign = make_lead(world.tenant_b, world.rep_b)
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc:
            services.lead_transfer(actor=world.admin_a, leads=[], to_user=world.rep_east)
        assert _code(exc) == "empty"
        with pytest.raises(ServiceError) as exc:
            services.lead_transfer(actor=world.admin_a, leads=[foreign.pk], to_user=world.rep_east)
        assert _code(exc) == "not_visible"
        with pytest.raises(NotFoundError) as exc:
            services.lead_transfer(actor=world.admin_a, leads=[], to_user=world.rep_b)
        assert _code(exc) == "not_found"


def test_pooled_leads_are_not_part_of_these_batches(world, scoped):
    from tests.leads.factories import make_pooled_lead

    pooled = make_pooled_lead(make_lead_pool(world.tenant_a))
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.lead_transfer(actor=world.admin_a, leads=[pooled], to_user=world.rep_east)
    assert _code(exc) == "not_visible"


# ---------------------------------------------------------------- status, close, reopen


def test_status_set_batch(world, scoped):
    a = make_lead(world.tenant_a, world.rep_east)
    b = make_lead(world.tenant_a, world.rep_east2)
    with scoped(world.manager_sales):
        services.lead_status_set(actor=world.manager_sales, leads=[a, b], status="contacted")
    assert _reload(a).status == _reload(b).status == "contacted"


@pytest.mark.parametrize("status", ["closed", "converted", "bogus"])
def test_status_set_refused_for_other_statuses(world, scoped, status):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.lead_status_set(actor=world.rep_east, leads=[lead], status=status)
    assert _code(exc) == "status"


def test_status_set_refused_for_closed_and_invisible_leads(world, scoped):
    closed = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CLOSED)
    other = make_lead(world.tenant_a, world.rep_west)
    mine = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            services.lead_status_set(actor=world.rep_east, leads=[mine, closed], status="contacted")
        assert _code(exc) == "closed"
        with pytest.raises(ServiceError) as exc:
            services.lead_status_set(actor=world.rep_east, leads=[mine, other], status="contacted")
        assert _code(exc) == "not_visible"
    assert _reload(mine).status == "new"


def test_close_sets_reason_note_and_time_then_reopen(world, scoped):
    reason = option(world.tenant_a, OptionKind.LEAD_CLOSE_REASON)
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        services.lead_close(actor=world.rep_east, leads=[lead.pk], reason=reason, note="  不需要 ")
        lead = _reload(lead)
        assert (lead.status, lead.close_reason, lead.close_note) == ("closed", reason, "不需要")
        assert lead.closed_at is not None
        services.lead_reopen(actor=world.rep_east, leads=[lead.pk])
        lead = _reload(lead)
        assert (lead.status, lead.close_reason, lead.closed_at) == ("new", None, None)
        assert ActivityLog.objects.filter(object_id=lead.pk, action="lead.reopened").exists()


def test_reopen_of_a_followed_up_lead_is_contacted(world, scoped):
    lead = make_lead(
        world.tenant_a, world.rep_east, status=Lead.Status.CLOSED, last_followup_at=timezone.now()
    )
    with scoped(world.rep_east):
        services.lead_reopen(actor=world.rep_east, leads=[lead])
    assert _reload(lead).status == "contacted"


def test_reopen_refused_for_open_leads(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.lead_reopen(actor=world.rep_east, leads=[lead])
    assert _code(exc) == "not_closed"


def test_close_refused_without_or_with_a_bad_reason(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    wrong = option(world.tenant_a, OptionKind.POOL_RETURN_REASON)
    foreign = option(world.tenant_b, OptionKind.LEAD_CLOSE_REASON)
    with scoped(world.rep_east):
        for reason, code in [(None, "reason"), (wrong, "reason"), (foreign, "not_found")]:
            with pytest.raises(NotFoundError if code == "not_found" else ServiceError) as exc:
                services.lead_close(actor=world.rep_east, leads=[lead], reason=reason)
            assert _code(exc) == code
    assert _reload(lead).status == "new"


def test_close_refused_for_converted_leads(world, scoped):
    reason = option(world.tenant_a, OptionKind.LEAD_CLOSE_REASON)
    lead = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.lead_close(actor=world.rep_east, leads=[lead], reason=reason)
    assert _code(exc) == "converted"


# ---------------------------------------------------------------- follow-ups on leads


def test_followup_on_a_lead_moves_times_and_marks_it_contacted(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    kind = option(world.tenant_a, OptionKind.FOLLOWUP_TYPE)
    now = timezone.now()
    nxt = now + datetime.timedelta(days=3)
    with scoped(world.rep_east):
        followup = customer_services.followup_create(
            actor=world.rep_east, record=lead, content="电话", kind=kind, next_followup_at=nxt
        )
        assert followup.record == lead and followup.customer is None
        lead = _reload(lead)
        assert lead.status == "contacted" and lead.next_followup_at == nxt
        assert lead.last_followup_at == followup.followed_at
        assert ActivityLog.objects.filter(object_id=lead.pk, action="followup.created").exists()


def test_followup_keeps_a_contacted_status(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONTACTED)
    with scoped(world.manager_sales):
        customer_services.followup_create(actor=world.manager_sales, record=lead, content="陪访")
    assert _reload(lead).status == "contacted"


def test_followup_refused_on_invisible_converted_and_foreign_leads(world, scoped):
    other = make_lead(world.tenant_a, world.rep_west)
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    foreign = make_lead(world.tenant_b, world.rep_b)
    with scoped(world.rep_east):
        for lead, code in [
            (other, "not_visible"),
            (converted, "converted"),
            (foreign, "not_visible"),
        ]:
            with pytest.raises(ServiceError) as exc:
                customer_services.followup_create(actor=world.rep_east, record=lead, content="x")
            assert _code(exc) == code
    with scopes_disabled():
        assert not FollowUp.objects.filter(owned.of_kind(Lead)).exists()


def test_followup_on_a_lead_refuses_a_contact(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    contact = make_contact(make_customer(world.tenant_a, world.rep_east, "客户"), "联系人")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        customer_services.followup_create(
            actor=world.rep_east, record=lead, content="x", contact=contact
        )
    assert _code(exc) == "contact"


def test_followup_needs_a_record_of_a_registered_kind(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "客户")
    contact = make_contact(customer)
    with scoped(world.rep_east):
        with pytest.raises(ValueError):
            customer_services.followup_create(actor=world.rep_east, record=None, content="x")
        with pytest.raises(LookupError):
            customer_services.followup_create(actor=world.rep_east, record=contact, content="x")
        assert not FollowUp.objects.exists()


# ---------------------------------------------------------------- files on leads


def _upload(name="报价.pdf", content=b"%PDF-1.4"):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_attachment_on_a_lead_stored_under_the_lead(world, scoped, media):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        attachment = customer_services.attachment_add(
            actor=world.rep_east, record=lead, upload=_upload()
        )
        assert attachment.record == lead and attachment.customer is None
        assert f"/leads/{lead.pk}/" in attachment.file.name


@pytest.mark.parametrize(
    ("name", "content", "code"), [("a.exe", b"x", "type"), ("a.pdf", b"", "empty")]
)
def test_attachment_on_a_lead_refused_like_on_a_customer(world, scoped, media, name, content, code):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        customer_services.attachment_add(
            actor=world.rep_east, record=lead, upload=_upload(name, content)
        )
    assert _code(exc) == code


def test_attachment_on_a_lead_refused_for_the_eleventh_file(world, scoped, media):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        for i in range(10):
            customer_services.attachment_add(
                actor=world.rep_east, record=lead, upload=_upload(f"{i}.pdf")
            )
        with pytest.raises(ServiceError) as exc:
            customer_services.attachment_add(actor=world.rep_east, record=lead, upload=_upload())
    assert _code(exc) == "too_many"


def test_attachment_on_a_lead_refused_for_invisible_or_converted(world, scoped, media):
    other = make_lead(world.tenant_a, world.rep_west)
    converted = make_lead(world.tenant_a, world.rep_east, status=Lead.Status.CONVERTED)
    with scoped(world.rep_east):
        for lead, code in [(other, "not_visible"), (converted, "converted")]:
            with pytest.raises(ServiceError) as exc:
                customer_services.attachment_add(
                    actor=world.rep_east, record=lead, upload=_upload()
                )
            assert _code(exc) == code


def test_attachment_delete_on_a_lead(world, scoped, media):
    lead = make_lead(world.tenant_a, world.rep_east)
    with scoped(world.rep_east):
        attachment = customer_services.attachment_add(
            actor=world.rep_east, record=lead, upload=_upload()
        )
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        customer_services.attachment_delete(actor=world.rep_west, attachment=attachment)
    assert _code(exc) == "not_visible"
    with scoped(world.manager_sales):
        customer_services.attachment_delete(actor=world.manager_sales, attachment=attachment)
        assert not Attachment.objects.filter(pk=attachment.pk).exists()


def test_a_deactivated_user_changes_nothing(world, scoped):
    lead = make_lead(world.tenant_a, world.rep_east)
    world.rep_east.is_active = False
    world.rep_east.save()
    with scoped(world.rep_east):
        with pytest.raises(ServiceError) as exc:
            services.lead_update(actor=world.rep_east, lead=lead, data={"title": "x"})
        assert _code(exc) == "not_visible"
        with pytest.raises(ServiceError) as exc:
            customer_services.followup_create(actor=world.rep_east, record=lead, content="x")
        assert _code(exc) == "not_visible"
    assert not services.lead_can_edit(world.rep_east, lead)
