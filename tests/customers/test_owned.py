"""customers.owned: the registry of owned record kinds, and follow-ups and files on any of
them through the one mechanism (customers, leads, and a kind registered here: the test app's
``Memo``, which has no customer)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django_scopes import scopes_disabled

from crm.exceptions import PermissionRefusedError, ServiceError
from crm.visibility import get_visible_or_404
from customers import owned, services
from customers.models import Attachment, Customer, FollowUp
from leads.models import Lead
from tests.customers.factories import fresh, make_contact, make_customer, make_followup
from tests.leads.factories import make_lead, make_lead_followup
from tests.testapp.models import Memo


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _memo_for_work(*, actor, row, what):
    memo = row if isinstance(row, Memo) else get_visible_or_404(actor, Memo.objects.all(), pk=row)
    if memo.owner_id != actor.pk:
        raise PermissionRefusedError("not your memo")
    return memo


@pytest.fixture
def memo_kind():
    """The test app's Memo as a kind of owned record, for the test only."""
    kind = owned.register(
        owned.OwnedKind(
            key="memo",
            model=Memo,
            get_for_actor=lambda *, actor, pk: get_visible_or_404(actor, Memo.objects.all(), pk=pk),
            for_work=_memo_for_work,
            detail_url=lambda pk: f"/memos/{pk}/",
            customer_id=lambda memo: None,
            files_full=gettext_lazy("A memo has at most 10 files."),
            followup_elsewhere=gettext_lazy("Not this memo's follow-up."),
        )
    )
    yield kind
    owned.unregister("memo")


def _upload(name="a.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4", content_type="application/pdf")


# ---------------------------------------------------------------- the registry


def test_customers_and_leads_are_registered_kinds(world):
    assert {"customer", "lead"} <= {k.key for k in owned.kinds()}
    assert owned.kind("customer").model is Customer
    assert owned.kind("lead").model is Lead
    assert owned.kind_of(Lead) is owned.kind("lead")
    lead_type = ContentType.objects.get_for_model(Lead)
    assert owned.kind_for_type(lead_type.pk) is owned.kind("lead")
    assert owned.kind("lead").detail_url(7) == reverse("leads:lead-detail", args=[7])
    assert owned.kind("customer").detail_url(7) == reverse("customers:customer-detail", args=[7])


def test_an_unregistered_model_is_no_kind(world):
    with pytest.raises(LookupError):
        owned.kind_of(Memo)
    with pytest.raises(LookupError):
        owned.kind_for_type(ContentType.objects.get_for_model(Memo).pk)
    with pytest.raises(KeyError):
        owned.kind("memo")


def test_a_model_registers_under_one_key_only(memo_kind):
    other = owned.OwnedKind(**{**memo_kind.__dict__, "key": "note"})
    with pytest.raises(ValueError):
        owned.register(other)
    assert owned.kind_of(Memo) is memo_kind


def test_link_names_the_record_and_its_direct_customer(world):
    customer = make_customer(world.tenant_a, world.rep_east, "甲客户")
    lead = make_lead(world.tenant_a, world.rep_east)
    customer_type = ContentType.objects.get_for_model(Customer)
    lead_type = ContentType.objects.get_for_model(Lead)
    assert owned.link(customer) == {
        "record_type": customer_type,
        "record_id": customer.pk,
        "customer_id": customer.pk,
    }
    assert owned.link(lead) == {"record_type": lead_type, "record_id": lead.pk, "customer_id": None}
    lead.customer = customer  # converted
    assert owned.link(lead)["customer_id"] == customer.pk


def test_conditions_select_the_rows_of_a_record_or_of_a_kind(world):
    customer = make_customer(world.tenant_a, world.rep_east, "甲客户")
    lead = make_lead(world.tenant_a, world.rep_east)
    on_customer = make_followup(customer, world.rep_east)
    on_lead = make_lead_followup(lead, world.rep_east)
    with scopes_disabled():
        assert list(FollowUp.objects.filter(owned.on(customer))) == [on_customer]
        assert list(FollowUp.objects.filter(owned.on(lead))) == [on_lead]
        assert list(FollowUp.objects.filter(owned.of_kind(Lead))) == [on_lead]
        ids = Lead.objects.filter(pk=lead.pk).values("pk")
        assert list(FollowUp.objects.filter(owned.on_ids(Lead, ids))) == [on_lead]
        assert not FollowUp.objects.filter(owned.on_ids(Customer, [lead.pk + customer.pk])).exists()
        # The customer column is the customer's history without a join.
        assert list(FollowUp.objects.filter(customer=customer)) == [on_customer]


# ---------------------------------------------------------------- any owned record


def test_followups_and_files_on_a_kind_without_customer(world, scoped, media, memo_kind):
    with scopes_disabled():
        memo = Memo.objects.create(tenant=world.tenant_a, owner=world.rep_east, title="备忘")
    with scoped(world.rep_east):
        followup = services.followup_create(actor=world.rep_east, record=memo, content="谈过")
        assert (followup.record, followup.customer_id) == (memo, None)
        attachment = services.attachment_add(
            actor=world.rep_east, record=memo, upload=_upload(), followup=followup
        )
        assert (attachment.record, attachment.customer_id) == (memo, None)
        assert attachment.file.name.startswith(f"tenants/{world.tenant_a.pk}/memos/{memo.pk}/")
        assert list(FollowUp.objects.filter(owned.on(memo))) == [followup]
        services.attachment_delete(actor=world.rep_east, attachment=attachment)
        assert not Attachment.objects.filter(owned.on(memo)).exists()


def test_a_kind_refuses_work_as_its_module_says(world, scoped, media, memo_kind):
    with scopes_disabled():
        memo = Memo.objects.create(tenant=world.tenant_a, owner=world.rep_west, title="备忘")
    with scoped(world.admin_a):
        with pytest.raises(PermissionRefusedError):
            services.followup_create(actor=world.admin_a, record=memo, content="x")
        with pytest.raises(PermissionRefusedError):
            services.attachment_add(actor=world.admin_a, record=memo, upload=_upload())
        assert not FollowUp.objects.exists() and not Attachment.objects.exists()


def test_a_kind_without_customer_offers_no_contacts(world, scoped, memo_kind):
    customer = make_customer(world.tenant_a, world.rep_east, "甲客户")
    contact = make_contact(customer)
    with scopes_disabled():
        memo = Memo.objects.create(tenant=world.tenant_a, owner=world.rep_east, title="备忘")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.followup_create(actor=world.rep_east, record=memo, content="x", contact=contact)
    assert exc.value.code == "contact"


def test_a_file_goes_only_with_a_followup_of_the_same_record(world, scoped, media, memo_kind):
    customer = make_customer(world.tenant_a, world.rep_east, "甲客户")
    elsewhere = make_followup(customer, world.rep_east)
    with scopes_disabled():
        memo = Memo.objects.create(tenant=world.tenant_a, owner=world.rep_east, title="备忘")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.attachment_add(
            actor=world.rep_east, record=memo, upload=_upload(), followup=elsewhere
        )
    assert (exc.value.code, str(exc.value.message)) == ("followup", "Not this memo's follow-up.")


# ---------------------------------------------------------------- customers: merge and purge


def test_merge_moves_the_merged_customers_own_rows_and_keeps_a_leads_record(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east, "留下")
    gone = make_customer(world.tenant_a, world.rep_east, "并入")
    lead = make_lead(world.tenant_a, world.rep_east)
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(customer=gone, status=Lead.Status.CONVERTED)
    own = make_followup(gone, world.rep_east)
    of_lead = make_lead_followup(fresh(lead), world.rep_east)
    assert of_lead.customer_id == gone.pk
    with scoped(world.admin_a):
        services.customer_merge(actor=world.admin_a, keep=keep, others=[gone])
        assert (fresh(own).record, fresh(own).customer_id) == (keep, keep.pk)
        assert (fresh(of_lead).record, fresh(of_lead).customer_id) == (fresh(lead), keep.pk)


def test_purge_deletes_the_customers_rows_and_keeps_a_converted_leads(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "删除")
    lead = make_lead(world.tenant_a, world.rep_east)
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(customer=customer, status=Lead.Status.CONVERTED)
        Customer.objects.filter(pk=customer.pk).update(deleted_at=customer.created_at)
    own = make_followup(customer, world.rep_east)
    of_lead = make_lead_followup(fresh(lead), world.rep_east)
    with scoped(world.admin_a):
        services.customer_purge(actor=world.admin_a, customers=[customer])
        assert not FollowUp.objects.filter(pk=own.pk).exists()
        assert (fresh(of_lead).record, fresh(of_lead).customer_id) == (fresh(lead), None)


def test_deleting_a_lead_deletes_its_followups_and_files_and_nothing_else(world):
    """The generic link has no foreign key; the lead's GenericRelation cascades instead."""
    lead = make_lead(world.tenant_a, world.rep_east)
    other = make_lead(world.tenant_a, world.rep_east)
    customer = make_customer(world.tenant_a, world.rep_east)
    gone = make_lead_followup(lead, world.rep_east)
    kept = make_lead_followup(other, world.rep_east)
    on_customer = make_followup(customer, world.rep_east)
    with scopes_disabled():
        file = Attachment.objects.create(
            tenant_id=lead.tenant_id,
            record=lead,
            original_name="a.txt",
            size=1,
            uploaded_by=world.rep_east,
        )
        lead.delete()
        assert not FollowUp.objects.filter(pk=gone.pk).exists()
        assert not Attachment.objects.filter(pk=file.pk).exists()
        assert set(FollowUp.objects.filter(pk__in=[kept.pk, on_customer.pk])) == {kept, on_customer}
