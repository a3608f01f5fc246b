"""The opportunity pages' creates posted twice (pages helper), as tests/crm/test_create_once.py
sweeps every create: one token, one record, the same answer; no token, never a 500.
``PAGES_CREATES`` is meant to join that file's ``CREATES`` (``CREATES.update(PAGES_CREATES)``)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import ExportJob, OptionKind
from customers.models import Attachment, FollowUp
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityParticipant,
    OpportunityStage,
)
from tests.crm import test_create_once as sweep
from tests.crm.test_create_once import Form, _count, _pdf
from tests.customers.factories import make_contact, make_customer, option
from tests.opportunities.factories import make_opportunity, stages


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _deal(w) -> Opportunity:
    return make_opportunity(w.rep_east, make_customer(w.tenant_a, w.rep_east, "双击商机客户"))


def _create(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east, "双击新建商机")
    return Form(
        w.rep_east,
        reverse("opportunities:opportunity-create"),
        {
            "name": "双击商机",
            "customer": customer.pk,
            "stage": stages(w.tenant_a)["初步接洽"].pk,
            "expected_close_date": "2026-12-31",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
        _count(Opportunity, name="双击商机"),
    )


def _contact(w) -> Form:
    deal = _deal(w)
    contact = make_contact(deal.customer, "双击联系人")
    return Form(
        w.rep_east,
        reverse("opportunities:opportunity-contact-add", args=[deal.pk]),
        {"contact": contact.pk},
        _count(OpportunityContact, opportunity=deal),
    )


def _team(w) -> Form:
    deal = _deal(w)
    return Form(
        w.rep_east,
        reverse("opportunities:opportunity-participants-add", args=[deal.pk]),
        {"users": [w.rep_east2.pk], "can_edit": "on"},
        _count(OpportunityParticipant, opportunity=deal),
    )


def _followup(w) -> Form:
    deal = _deal(w)
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    return Form(
        w.rep_east,
        reverse("opportunities:opportunity-followup-add", args=[deal.pk]),
        {"kind": kind.pk, "content": "商机双击跟进"},
        _count(FollowUp, content="商机双击跟进"),
    )


def _attachment(w) -> Form:
    deal = _deal(w)
    return Form(
        w.rep_east,
        reverse("opportunities:opportunity-attachment-add", args=[deal.pk]),
        {},
        _count(Attachment, record_id=deal.pk, tenant=w.tenant_a),
        files={"file": _pdf},
    )


def _export(w) -> Form:
    _deal(w)
    return Form(
        w.admin_a,
        reverse("opportunities:opportunity-export"),
        {"next": "/"},
        _count(ExportJob, tenant=w.tenant_a, kind="opportunities"),
    )


def _stage(w) -> Form:
    return Form(
        w.admin_a,
        reverse("opportunities:stage-create"),
        {"name": "双击阶段", "probability": "20", "allow_rollback_open": "on", "is_active": "on"},
        _count(OpportunityStage, tenant=w.tenant_a, name="双击阶段"),
        unique=True,
    )


PAGES_CREATES = {
    "opportunities:opportunity-create": _create,
    "opportunities:opportunity-contact-add": _contact,
    "opportunities:opportunity-participants-add": _team,
    "opportunities:opportunity-followup-add": _followup,
    "opportunities:opportunity-attachment-add": _attachment,
    "opportunities:opportunity-export": _export,
    "opportunities:stage-create": _stage,
}


@pytest.mark.parametrize("name", sorted(PAGES_CREATES))
def test_posted_twice_with_one_token_creates_once(world, as_user, name, monkeypatch):
    monkeypatch.setattr(sweep, "CREATES", PAGES_CREATES)
    sweep.test_the_same_form_posted_twice_creates_once_and_answers_alike(world, as_user, name)


@pytest.mark.parametrize("name", sorted(PAGES_CREATES))
def test_posted_twice_without_a_token_no_server_error(world, as_user, name, monkeypatch):
    monkeypatch.setattr(sweep, "CREATES", PAGES_CREATES)
    sweep.test_posted_twice_without_a_token_never_a_server_error(world, as_user, name)
