"""Menu entries of the pool engine: the pool groups' settings page (the pool lists and
their workbench panels are the pooled modules': customers, leads)."""

from django.utils.translation import gettext_lazy as _

from crm import navigation

navigation.register(
    navigation.NavItem(
        "pool-groups",
        _("Pool groups"),
        "pools:group-list",
        "rectangle-group",
        ("pool.manage",),
        "settings",
    )
)
