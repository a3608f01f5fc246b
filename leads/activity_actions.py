"""The activity-log actions of the leads module (labels the timeline shows), and how the query
strings of its exports read (crm.activity_words). Pool actions on leads (claim, assign,
return, recycle, move) use pools.activity_actions."""

from django.utils.translation import gettext_lazy as _

from crm.activity import register_action
from crm.activity_words import filterset_words, register_query_words

LEAD_CREATED = register_action("lead.created", _("created the lead"))
LEAD_UPDATED = register_action("lead.updated", _("changed the lead"))
LEAD_TRANSFERRED = register_action("lead.transferred", _("transferred the lead"))
LEAD_STATUS = register_action("lead.status", _("changed the status of"))
LEAD_CLOSED = register_action("lead.closed", _("closed the lead"))
LEAD_REOPENED = register_action("lead.reopened", _("reopened the lead"))
LEAD_AUTO_ASSIGNED = register_action("lead.auto_assigned", _("assigned by a rule"))
LEAD_CONVERTED = register_action(
    "lead.converted",
    _("converted the lead into a customer"),
    fields={"customer": _("Converted into customer")},
    plain=True,
)
CAMPAIGN_SAVED = register_action("campaign.saved", _("saved the campaign"))
CAMPAIGN_DELETED = register_action("campaign.deleted", _("deleted the campaign"))
RULE_SAVED = register_action(
    "assignment_rule.saved",
    _("saved the assignment rule"),
    fields={"users": _("Members"), "sort_order": _("Position")},
)
RULE_DELETED = register_action("assignment_rule.deleted", _("deleted the assignment rule"))
CUSTOMER_FROM_LEAD = register_action(
    "customer.from_lead",
    _("converted a lead into the customer"),
    fields={"lead": _("Source lead")},
    plain=True,
)
CUSTOMER_LEAD_MERGED = register_action(
    "customer.lead_merged",
    _("merged a lead into the customer"),
    fields={"lead": _("Source lead")},
    plain=True,
)


def _lead_filter():
    from leads.filters import LeadFilter

    return LeadFilter


def _lead_views():
    from leads.selectors import VIEWS

    return VIEWS


register_query_words("leads", filterset_words(_lead_filter, views=_lead_views))
