"""The list pattern of the lead list and the lead pool (issue 16): the lead list's sortable
columns and quick-filter chips, its default order, and what the view marks on a page's rows
(what the masking layer hides, the number a phone card dials, 已逾期)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Lead

# The sortable columns of the lead list: column → (label, sort, reverse sort, direction).
SORT_COLUMNS = {
    "lead": (gettext_lazy("Lead"), "company", None, "asc"),
    "last_followup": (gettext_lazy("Last follow-up"), "last_followup", None, "desc"),
    "next_followup": (
        gettext_lazy("Next follow-up"),
        "next_followup_soon",
        "next_followup",
        "asc",
    ),
    "created": (gettext_lazy("Created"), "created", None, "desc"),
}


def list_chips(request) -> list:
    """The quick filters of the lead list: 今日待跟进, 已逾期, 3 天内掉回线索池, 未跟进 (the
    first status: leads have no level) and 本周新建. No query."""
    from crm.views.lists import chips, this_monday

    monday = this_monday()
    return chips(
        request,
        [
            ("due_today", _("Due today"), {"due": "today"}),
            ("overdue", _("Overdue"), {"due": "overdue"}),
            ("recycle_soon", _("Into the lead pool within 3 days"), {"recycle_within": 3}),
            ("status_new", Lead.Status.NEW.label, {"status": Lead.Status.NEW.value}),
            ("this_week", _("Created this week"), {"created_after": monday.isoformat()}),
        ],
    )


def dial_number(lead: Lead) -> str:
    """The number a phone card dials (a tel: link): the mobile, else the telephone, only as
    the masking layer shows it (the row was prepared: crm.masking.prepare); "" for none."""
    from crm import masking

    hidden = masking.prepared_paths(lead)
    for path in ("mobile", "phone"):
        number = getattr(lead, path)
        if number and path not in hidden:
            return number.replace(" ", "")
    return ""


def mark_rows(page, actor) -> None:
    """Mark each row of a lead list's page for the template (no query for owned leads: the
    masking layer hides nothing on them; a pooled lead's group is joined): what the masking
    layer hides (the ``masked`` filter), the number to dial, and 已逾期 (the next follow-up
    has passed: the row and its phone card in red)."""
    from django.utils import timezone

    from crm import masking

    masking.prepare(actor, page.items)
    now = timezone.now()
    for lead in page.items:
        lead.tel = dial_number(lead)
        lead.is_open = lead.status in (Lead.Status.NEW, Lead.Status.CONTACTED)
        # 已逾期 only while somebody still works the lead (not a closed or converted one).
        lead.overdue = bool(lead.is_open and lead.next_followup_at and lead.next_followup_at < now)
