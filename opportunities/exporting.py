"""The opportunity export (导出商机, crm.exporting): the opportunity list of a view with its
filters and sort, rebuilt exactly as opportunities.views.opportunities builds the page (the same
list base, filter class and sort table), or the ticked opportunities, checked against every
opportunity the actor sees (refused as a whole when one is not). Needs ``opportunity.export``.
Amounts go through the masking layer (``masked``): a rule hiding them by role (none yet) makes
them *** in the file as on the page.
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
from opportunities.models import Opportunity

# The joins a row needs for its columns (PERF: no query per row).
OPPORTUNITY_JOINS = (
    "owner",
    "customer",
    "stage",
    "lost_reason",
    "primary_contact",
    "owner_department",
    "created_by",
)


def opportunity_columns(actor: User) -> list[Column]:
    def f(name: str, value=None) -> Column:
        # The fields crm.masking may hide from the actor read *** on those rows.
        return masked(
            field_column(Opportunity, name, value), actor=actor, model=Opportunity, path=name
        )

    return [
        f("name"),
        f("customer", lambda o: o.customer.name),
        f("stage", lambda o: o.stage.name),
        f("status"),
        f("amount"),
        f("budget"),
        f("probability"),
        f("expected_close_date"),
        f("commit"),
        f("closed_date"),
        f("lost_reason"),
        f("lost_note"),
        f("primary_contact", lambda o: o.primary_contact.name if o.primary_contact else ""),
        f("owner"),
        f("owner_department"),
        f("last_followup_at"),
        f("next_followup_at"),
        f("remark"),
        f("created_by"),
        f("created_at"),
    ]


def opportunity_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None) -> ExportSource:
    """The opportunity list of ``query`` (view, filters, sort); or the selected ones among
    every opportunity the actor sees."""
    from opportunities import listing
    from opportunities.filters import OpportunityFilter

    view = query.get("view") or "mine"
    if view not in listing.VIEW_KEYS:
        view = "mine"
    sort = list_sort(query, listing.SORTS, "created")
    if ids is None:
        base = listing.opportunity_base(actor=actor, view=view)
        qs = list_filtered(OpportunityFilter, actor=actor, query=query, base=base)
    else:
        qs = only_selected(listing.opportunity_base(actor=actor, view="all"), ids)
    rows = listing.opportunity_list(queryset=qs, sort=sort).select_related(*OPPORTUNITY_JOINS)
    return ExportSource(rows, opportunity_columns(actor))


OPPORTUNITIES = register(
    ExportKind(
        "opportunities",
        _("Opportunities"),
        opportunity_source,
        "opportunities:opportunity-list",
        permission="opportunity.export",
    )
)
