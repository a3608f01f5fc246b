"""The activity-log actions of the pool (labels the timeline shows)."""

from django.utils.translation import gettext_lazy as _

from crm.activity import register_action

_OWNER = {"owner": _("Owner")}
_GROUP = {"pool_group": _("Pool group")}

POOL_CLAIMED = register_action("pool.claimed", _("claimed from the pool"))
POOL_ASSIGNED = register_action("pool.assigned", _("assigned from the pool"), fields=_OWNER)
POOL_RETURNED = register_action("pool.returned", _("returned to the pool"), fields=_OWNER)
POOL_RECYCLED = register_action("pool.recycled", _("recycled into the pool"), fields=_OWNER)
POOL_MOVED = register_action("pool.moved", _("moved to another pool group"), fields=_GROUP)
POOL_INITIALIZED = register_action("pool.initialized", _("put into a pool group"))
POOL_GROUP_CREATED = register_action("pool_group.created", _("created the pool group"))
POOL_GROUP_UPDATED = register_action("pool_group.updated", _("changed the pool group"))
POOL_GROUP_DELETED = register_action("pool_group.deleted", _("deleted the pool group"))
