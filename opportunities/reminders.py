"""The opportunities' reminder kinds (crm.reminders), registered from
``OpportunitiesConfig.ready()``: an open opportunity's next follow-up (the owner's minutes
before, 15 by default) and its escalation when overdue by the tenant's days (to the owner and
the owner's manager), built like the customers' and the leads' (customers/reminders.py), and
the opportunities' part of the morning digest. Won and lost opportunities are not reminded."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm import reminders
from customers.reminders import followup_kinds


def _open_opportunities(tenant_id: int):
    from opportunities.models import Opportunity

    return Opportunity.objects.filter(tenant_id=tenant_id, owner__isnull=False).open()


_due, _overdue, _agenda = followup_kinds(
    prefix="opportunity",
    labels=(
        _("Opportunity follow-up due"),
        _("Opportunity follow-up overdue"),
        _("Opportunity"),
    ),
    queryset=_open_opportunities,
    name_fields=("name",),
    url_name="opportunities:opportunity-detail",
)
reminders.register(_due)
reminders.register(_overdue)
reminders.register_agenda(_agenda)
