"""The activity-log actions of the customers module (labels the timeline shows)."""

from django.utils.translation import gettext_lazy as _

from crm.activity import register_action

CUSTOMER_CREATED = register_action("customer.created", _("created the customer"))
CUSTOMER_UPDATED = register_action("customer.updated", _("changed the customer"))
CUSTOMER_TRANSFERRED = register_action("customer.transferred", _("transferred the customer"))
CUSTOMER_LOCKED = register_action("customer.locked", _("locked the customer"))
CUSTOMER_UNLOCKED = register_action("customer.unlocked", _("unlocked the customer"))
CUSTOMER_TAGGED = register_action("customer.tagged", _("changed the tags of"))
CUSTOMER_PARTICIPANTS = register_action("customer.participants", _("changed the participants of"))
CUSTOMER_TRASHED = register_action("customer.trashed", _("moved to the recycle bin"))
CUSTOMER_RESTORED = register_action("customer.restored", _("restored from the recycle bin"))
CUSTOMER_PURGED = register_action("customer.purged", _("deleted for good"))
CUSTOMER_MERGED = register_action("customer.merged", _("merged customers into"))
CUSTOMER_SIGNED = register_action("customer.signed", _("marked as signed customer"))
CUSTOMER_BACK_TO_DEVELOPMENT = register_action(
    "customer.back_to_development", _("set back to development customer")
)
CONTACT_CREATED = register_action("contact.created", _("added the contact"))
CONTACT_UPDATED = register_action("contact.updated", _("changed the contact"))
CONTACT_DELETED = register_action("contact.deleted", _("deleted the contact"))
FOLLOWUP_CREATED = register_action("followup.created", _("added a follow-up on"))
FOLLOWUP_COMMENTED = register_action("followup.commented", _("commented on a follow-up of"))
ATTACHMENT_ADDED = register_action("attachment.added", _("uploaded a file to"))
ATTACHMENT_DELETED = register_action("attachment.deleted", _("deleted a file of"))
