"""The lead as a kind of 最近浏览 (crm.recent): which of the leads a user opened they still
see, as the lead lists show them (any status, not lying in a lead pool)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import recent
from crm.visibility import visible_to


def _label(company: str, name: str) -> str:
    """As Lead.__str__: "company contact", or the contact alone."""
    return f"{company} {name}".strip() if company else name


def visible_leads(actor, ids: list[int]) -> dict[int, tuple[str, str]]:
    """``{id: (company and contact, page)}`` of the leads among ``ids`` that ``actor`` sees
    (one query)."""
    from leads.models import Lead

    rows = (
        visible_to(actor, Lead.objects.outside_pool(), include_pool=False)
        .filter(pk__in=ids)
        .values_list("pk", "company", "name")
    )
    return {
        pk: (_label(company, name), reverse("leads:lead-detail", args=[pk]))
        for pk, company, name in rows
    }


recent.register("lead", _("Lead"), visible_leads)
