"""The opportunity pages' URLs with an object id (pages helper), checked as
tests/crm/test_url_matrix.py checks every module: an object of tenant B requested by tenant
A's admin (every right, scope all) is a 404 for GET and POST, like a missing id, and nothing of
B changes; the same URL works for B's admin. ``PAGES_MATRIX`` is meant to join that file's
``MATRIX`` (``MATRIX.update(PAGES_MATRIX)``)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from customers.models import Attachment
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityParticipant,
    OpportunityStage,
)
from tests.customers.factories import make_contact, make_customer
from tests.opportunities.factories import make_opportunity


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _opportunity_b(w) -> Opportunity:
    customer = make_customer(w.tenant_b, w.rep_b, name="乙公司的商机客户")
    return make_opportunity(w.rep_b, customer, "乙的商机")


def _contact_row_b(w) -> dict:
    opportunity = _opportunity_b(w)
    contact = make_contact(opportunity.customer, "乙的联系人")
    row = OpportunityContact.objects.create(
        tenant_id=w.tenant_b.pk, opportunity=opportunity, contact=contact
    )
    return {"pk": opportunity.pk, "row": row.pk}


def _participant_b(w) -> dict:
    opportunity = _opportunity_b(w)
    OpportunityParticipant.objects.create(
        tenant_id=w.tenant_b.pk, opportunity=opportunity, user=w.admin_b
    )
    return {"pk": opportunity.pk, "user_pk": w.admin_b.pk}


def _attachment_b(w) -> Attachment:
    from django.core.files.base import ContentFile

    opportunity = _opportunity_b(w)
    attachment = Attachment(
        tenant_id=w.tenant_b.pk,
        record=opportunity,
        customer=opportunity.customer,
        original_name="报价.pdf",
        size=7,
        content_type="application/pdf",
        uploaded_by=w.rep_b,
    )
    attachment.file.save("报价.pdf", ContentFile(b"%PDF-b\n"), save=False)
    attachment.save()
    return attachment


def _stage_b(w) -> OpportunityStage:
    """A deletable open stage of tenant B (no opportunity in it)."""
    return OpportunityStage.objects.create(
        tenant_id=w.tenant_b.pk, name="乙的阶段", probability=20, sort=5
    )


def _opportunity(w) -> dict:
    return {"pk": _opportunity_b(w).pk}


PAGES_MATRIX = {
    "opportunities:opportunity-detail": _opportunity,
    "opportunities:opportunity-edit": _opportunity,
    "opportunities:opportunity-delete": _opportunity,
    "opportunities:opportunity-tab": lambda w: {"pk": _opportunity_b(w).pk, "tab": "overview"},
    "opportunities:opportunity-lines": _opportunity,
    "opportunities:opportunity-stage": _opportunity,
    "opportunities:opportunity-win": _opportunity,
    "opportunities:opportunity-lose": _opportunity,
    "opportunities:opportunity-reopen": _opportunity,
    "opportunities:opportunity-contact-add": _opportunity,
    "opportunities:opportunity-contact-remove": _contact_row_b,
    "opportunities:opportunity-contact-primary": _contact_row_b,
    "opportunities:opportunity-participants-add": _opportunity,
    "opportunities:opportunity-participant-remove": _participant_b,
    "opportunities:opportunity-followup-add": _opportunity,
    "opportunities:opportunity-attachment-add": _opportunity,
    "opportunities:opportunity-attachment-download": lambda w: {"pk": _attachment_b(w).pk},
    "opportunities:opportunity-attachment-delete": lambda w: {"pk": _attachment_b(w).pk},
    "opportunities:stage-edit": lambda w: {"pk": _stage_b(w).pk},
    "opportunities:stage-delete": lambda w: {"pk": _stage_b(w).pk},
    "opportunities:stage-move": lambda w: {"pk": _stage_b(w).pk},
}


def _snapshot(world):
    with scopes_disabled():
        return (
            sorted(
                Opportunity.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "name", "owner_id", "stage_id", "status", "amount", "updated_at"
                )
            ),
            sorted(
                OpportunityStage.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "name", "sort", "probability", "is_active"
                )
            ),
            sorted(
                OpportunityContact.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "contact_id", "is_primary"
                )
            ),
            sorted(
                OpportunityParticipant.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "user_id"
                )
            ),
            sorted(Attachment.objects.filter(tenant=world.tenant_b).values_list("pk", "file")),
        )


@pytest.mark.parametrize("name", sorted(PAGES_MATRIX))
def test_other_tenants_opportunity_object_is_404(name, world, login):
    with scopes_disabled():
        kwargs = PAGES_MATRIX[name](world)
    url = reverse(name, kwargs=kwargs)
    missing_url = reverse(name, kwargs={**kwargs, "pk": 999_999_999})
    client = login(world.admin_a)
    before = _snapshot(world)
    get_status = client.get(url).status_code
    assert get_status in (404, 405)
    assert get_status == client.get(missing_url).status_code
    post = client.post(url, {"name": "x", "label": "x", "parent": "", "direction": "up"})
    assert post.status_code == 404
    assert client.post(url, {}, HTTP_HX_REQUEST="true").status_code == 404
    assert _snapshot(world) == before


@pytest.mark.parametrize("name", sorted(PAGES_MATRIX))
def test_own_tenants_opportunity_object_is_reachable(name, world, login):
    with scopes_disabled():
        kwargs = PAGES_MATRIX[name](world)
    client = login(world.admin_b)
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"direction": "up"})
    assert response.status_code in (200, 302), response.status_code
