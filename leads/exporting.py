"""The lead export (导出线索, crm.exporting): the lead list of a view with its filters and
sort, rebuilt exactly as leads.views.leads builds the page (the same selector, filter class and
sort table), or the ticked leads, checked against every listed lead the actor sees (refused
as a whole when one is not). Needs ``lead.export``. Pooled leads are never in it: the lists
leave them out, so their hidden fields never reach a file.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.exporting import (
    Column,
    ExportKind,
    ExportSource,
    field_column,
    list_filtered,
    list_sort,
    masked,
    only_selected,
    register,
)
from crm.models import User
from crm.visibility import visible_to
from leads.models import Lead

# The joins a row needs for its columns (PERF: no query per row).
LEAD_JOINS = ("owner", "source", "campaign", "close_reason", "created_by")


def lead_columns(actor: User) -> list[Column]:
    def f(name: str, value=None) -> Column:
        # The fields crm.masking may hide from the actor read *** on those rows.
        return masked(field_column(Lead, name, value), actor=actor, model=Lead, path=name)

    return [
        f("name"),
        f("company"),
        f("mobile"),
        f("phone"),
        f("email"),
        f("title"),
        f("status"),
        f("source"),
        f("campaign"),
        f("owner"),
        f("province"),
        f("city"),
        f("district"),
        f("address"),
        f("remark"),
        f("last_followup_at"),
        f("next_followup_at"),
        f("close_reason"),
        f("created_by"),
        f("created_at"),
    ]


def lead_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The lead list of ``query`` (view, filters, sort); or the selected leads among every
    lead of the lists the actor sees (open, closed and converted, never a pooled one)."""
    from leads import selectors
    from leads.filters import LeadFilter

    view = query.get("view") or "mine"
    sort = list_sort(query, selectors.SORTS, "created")
    if ids is None:
        base = selectors.lead_base(actor=actor, view=view)
        qs = list_filtered(LeadFilter, actor=actor, query=query, base=base)
    else:
        listed = visible_to(actor, Lead.objects.outside_pool(), include_pool=False)
        qs = only_selected(listed, ids)
    rows = selectors.lead_list(actor=actor, queryset=qs, sort=sort).select_related(*LEAD_JOINS)
    return ExportSource(rows, lead_columns(actor))


LEADS = register(
    ExportKind("leads", _("Leads"), lead_source, "leads:lead-list", permission="lead.export")
)
