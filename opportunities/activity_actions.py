"""The activity-log actions of opportunities and their stage settings (labels the timeline
shows, crm.activity_words)."""

from django.utils.translation import gettext_lazy

from crm.activity import register_action

OPPORTUNITY_CREATED = register_action(
    "opportunity.created", gettext_lazy("created the opportunity")
)
OPPORTUNITY_UPDATED = register_action(
    "opportunity.updated", gettext_lazy("changed the opportunity")
)
OPPORTUNITY_STAGE = register_action(
    "opportunity.stage", gettext_lazy("moved the opportunity to another stage")
)
OPPORTUNITY_WON = register_action("opportunity.won", gettext_lazy("won the opportunity"))
OPPORTUNITY_LOST = register_action("opportunity.lost", gettext_lazy("lost the opportunity"))
OPPORTUNITY_REOPENED = register_action(
    "opportunity.reopened", gettext_lazy("reopened the opportunity")
)
OPPORTUNITY_TRANSFERRED = register_action(
    "opportunity.transferred", gettext_lazy("transferred the opportunity")
)
OPPORTUNITY_LINES = register_action(
    "opportunity.lines",
    gettext_lazy("changed the products of"),
    fields={"lines": gettext_lazy("Products")},
)
OPPORTUNITY_CONTACTS = register_action(
    "opportunity.contacts",
    gettext_lazy("changed the contacts of"),
    fields={"contact": gettext_lazy("Contact"), "primary": gettext_lazy("Primary contact")},
)
OPPORTUNITY_PARTICIPANTS = register_action(
    "opportunity.participants",
    gettext_lazy("changed the team of"),
    fields={"participants": gettext_lazy("Team members")},
)
# Logged on the customer: the opportunity row is gone.
OPPORTUNITY_DELETED = register_action(
    "opportunity.deleted",
    gettext_lazy("deleted an opportunity of"),
    fields={"opportunity": gettext_lazy("Opportunity")},
    plain=True,
)
STAGE_CREATED = register_action("opportunity_stage.created", gettext_lazy("added the sales stage"))
STAGE_UPDATED = register_action(
    "opportunity_stage.updated", gettext_lazy("changed the sales stage")
)
STAGE_DELETED = register_action(
    "opportunity_stage.deleted", gettext_lazy("deleted the sales stage")
)
SETTINGS_UPDATED = register_action(
    "opportunity_settings.updated", gettext_lazy("changed the opportunity settings")
)
