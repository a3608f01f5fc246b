"""The activity-log actions of the customers module (labels the timeline shows), and how the
query strings of its exports read (crm.activity_words)."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.activity import register_action
from crm.activity_words import filterset_words, register_query_words, value_text

CUSTOMER_CREATED = register_action("customer.created", gettext_lazy("created the customer"))
CUSTOMER_UPDATED = register_action("customer.updated", gettext_lazy("changed the customer"))
CUSTOMER_TRANSFERRED = register_action(
    "customer.transferred", gettext_lazy("transferred the customer")
)
CUSTOMER_LOCKED = register_action("customer.locked", gettext_lazy("locked the customer"))
CUSTOMER_UNLOCKED = register_action("customer.unlocked", gettext_lazy("unlocked the customer"))
CUSTOMER_TAGGED = register_action("customer.tagged", gettext_lazy("changed the tags of"))
CUSTOMER_PARTICIPANTS = register_action(
    "customer.participants", gettext_lazy("changed the participants of")
)
CUSTOMER_TRASHED = register_action("customer.trashed", gettext_lazy("moved to the recycle bin"))
CUSTOMER_RESTORED = register_action(
    "customer.restored", gettext_lazy("restored from the recycle bin")
)
CUSTOMER_PURGED = register_action("customer.purged", gettext_lazy("deleted for good"))
CUSTOMER_MERGED = register_action(
    "customer.merged",
    gettext_lazy("merged customers into"),
    fields={"merged": gettext_lazy("Merged customers")},
    plain=True,
)
CUSTOMER_SIGNED = register_action("customer.signed", gettext_lazy("marked as signed customer"))
CUSTOMER_BACK_TO_DEVELOPMENT = register_action(
    "customer.back_to_development", gettext_lazy("set back to development customer")
)
CONTACT_CREATED = register_action(
    "contact.created",
    gettext_lazy("added the contact"),
    fields={"contact": gettext_lazy("Contact")},
    plain=True,
)
CONTACT_UPDATED = register_action(
    "contact.updated", gettext_lazy("changed the contact"), model="customers.Contact"
)
CONTACT_DELETED = register_action(
    "contact.deleted",
    gettext_lazy("deleted the contact"),
    fields={"contact": gettext_lazy("Contact")},
    plain=True,
)
FOLLOWUP_CREATED = register_action("followup.created", gettext_lazy("added a follow-up on"))
FOLLOWUP_COMMENTED = register_action(
    "followup.commented", gettext_lazy("commented on a follow-up of")
)
ATTACHMENT_ADDED = register_action(
    "attachment.added",
    gettext_lazy("uploaded a file to"),
    fields={"file": gettext_lazy("File")},
    plain=True,
)
ATTACHMENT_DELETED = register_action(
    "attachment.deleted",
    gettext_lazy("deleted a file of"),
    fields={"file": gettext_lazy("File")},
    plain=True,
)


# ---------------------------------------------------------------- export queries


def _customer_filter():
    from customers.filters import CustomerFilter

    return CustomerFilter


def _contact_filter():
    from customers.filters import ContactFilter

    return ContactFilter


def _customer_views():
    from customers.selectors import VIEWS

    return [*VIEWS, ("bin", gettext_lazy("Recycle bin"))]


def _rows(model_path: str, tenant_id: int, values: list[str]) -> str:
    """The named rows (one query whatever their number), in the order given, 「(已删除)」 for
    a row that is gone."""
    from django.apps import apps

    model = apps.get_model(model_path)
    ids = [int(v) for v in values if v.isdigit()]
    found = {
        str(row.pk): str(row) for row in model._base_manager.filter(tenant_id=tenant_id, pk__in=ids)
    }
    return "、".join(found.get(v, _("(deleted)")) for v in values)


_customers = filterset_words(_customer_filter, views=_customer_views)


def _pool_words(tenant_id: int, key: str, values: list[str]):
    if key == "group":
        return _("Pool group"), _rows("pools.PoolGroup", tenant_id, values)
    return _customers(tenant_id, key, values)


_FEED_ROWS = {
    "kind": (gettext_lazy("Follow-up type"), "crm.Option"),
    "person": (gettext_lazy("Followed up by"), "crm.User"),
    "customer": (gettext_lazy("Customer"), "customers.Customer"),
    "contact": (gettext_lazy("Contact"), "customers.Contact"),
}


def _followup_words(tenant_id: int, key: str, values: list[str]):
    if key == "scope":
        names = {"mine": _("My follow-ups"), "team": _("Team follow-ups")}
        return _("List view"), "、".join(names.get(v, _("My follow-ups")) for v in values)
    if key == "start":
        return _("Followed up from"), "、".join(value_text(v) for v in values)
    if key == "end":
        return _("Followed up until"), "、".join(value_text(v) for v in values)
    if key in _FEED_ROWS:
        label, model_path = _FEED_ROWS[key]
        return str(label), _rows(model_path, tenant_id, values)
    if key == "q":
        return _("Keyword"), "、".join(values)
    return None


register_query_words("customers", _customers)
register_query_words("pool", _pool_words)
register_query_words("contacts", filterset_words(_contact_filter))
register_query_words("followups", _followup_words)
