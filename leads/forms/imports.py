"""The lead import's start form (导入线索): the customer import's form worded for leads."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from customers.forms import ImportStartForm


class LeadImportForm(ImportStartForm):
    pool_kind = "lead"
    page_title = gettext_lazy("Import leads")
    pool_choice = gettext_lazy("A lead pool")
    pool_label = gettext_lazy("Lead pool")
    pool_help = gettext_lazy(
        "Leads imported into a lead pool have no owner; the pool's hidden fields (contact "
        "details by default) stay hidden until someone claims them, and the automatic "
        "assignment rules for imported leads may hand them out at once."
    )
    distribution_help = gettext_lazy("How the leads are shared among several employees.")
    mode_label = gettext_lazy("When a lead already exists")
    mode_skip = gettext_lazy("Skip it (import only new leads)")
    mode_update_only = gettext_lazy("Only overwrite existing leads, create nothing new")
    keys_label = gettext_lazy("Same lead means")
    keys_choices = [
        ("either", gettext_lazy("Same mobile or same company")),
        ("mobile", gettext_lazy("Same mobile")),
        ("company", gettext_lazy("Same company")),
    ]
    keys_help = gettext_lazy(
        "Company names are compared ignoring case, spaces, brackets and full-width "
        "characters; every lead of the company is searched, the lead pools and converted "
        "leads included, and the file itself."
    )
