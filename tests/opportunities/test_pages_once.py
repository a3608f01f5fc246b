"""The opportunity pages' creates (pages helper), posted twice by tests/crm/test_create_once.py
like every create: one token, one record, the same answer; no token, never a 500.
``PAGES_CREATES`` joins that file's ``CREATES`` (the sweep runs them there, not here).

That file imports this one while it is still being loaded, and this one needs its ``Form``:
the module is bound at the end (after ``PAGES_CREATES``) and read when a builder runs, so
either file may be imported first."""

from __future__ import annotations

from django.urls import reverse

from crm.models import ExportJob, OptionKind
from customers.models import Attachment, FollowUp
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityParticipant,
    OpportunityStage,
)
from tests.customers.factories import make_contact, make_customer, option
from tests.opportunities.factories import make_opportunity, stages


def Form(*args, **kwargs):  # the sweep's dataclass, looked up when called
    return sweep.Form(*args, **kwargs)


def _count(model, **filters):
    return sweep._count(model, **filters)


def _pdf():
    return sweep._pdf()


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


from tests.crm import test_create_once as sweep  # noqa: E402 (see the module's docstring)
