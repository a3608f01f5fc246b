"""The leads' reminder kinds (crm.reminders), registered from ``LeadsConfig.ready()``: a lead's
next follow-up (15 minutes before by default, to the owner) and its escalation when overdue by
the tenant's days (to the owner and the owner's manager), built like the customers'
(customers/reminders.py), and the leads' part of the morning digest. Only open leads (new,
contacted) outside the lead pools and with an owner are reminded."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm import reminders
from customers.reminders import followup_kinds


def _open_leads(tenant_id: int):
    from leads.models import Lead

    return Lead.objects.filter(tenant_id=tenant_id).open().outside_pool()


_due, _overdue, _agenda = followup_kinds(
    prefix="lead",
    labels=(_("Lead follow-up due"), _("Lead follow-up overdue"), _("Lead")),
    queryset=_open_leads,
    name_fields=("company", "name"),
    url_name="leads:lead-detail",
)
reminders.register(_due)
reminders.register(_overdue)
reminders.register_agenda(_agenda)
