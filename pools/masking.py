"""The pool's masking rule (crm.masking): while a row lies in a pool group's pool, the fields
the group hides (``PoolGroup.hidden_fields``, seed 001 联系方式默认隐藏) are hidden from everyone
but the group's admins and the kind's pool managers. Generic over pooled models
(pools.models.PooledModel: ``pool_group_id``, ``pooled_at``, ``pool_kind``); what each key
covers on a kind's rows is :data:`PATHS_BY_KIND` (the labels are pools.models
HIDDEN_FIELD_CHOICES_BY_KIND, the templates show the same fields).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q

from crm import masking
from pools.models import HIDDEN_FIELD_KEYS_BY_KIND, PoolGroup
from pools.selectors import group_hidden_keys, is_group_admin

# key -> the field paths it hides, per kind. A customer's contact keys hide its contacts'
# fields; a lead has its own phone and e-mail. "address" keeps province and city visible
# (the pages show them), a lead's district goes with its address as on the lead page.
PATHS_BY_KIND: dict[str, dict[str, tuple[str, ...]]] = {
    "customer": {
        "contact_phones": ("contacts__mobile", "contacts__phone"),
        "contact_emails": ("contacts__email",),
        "address": ("address", "longitude", "latitude"),
        "legal_representative": ("legal_representative",),
        "credit_code": ("credit_code",),
        "bank": ("bank_name", "bank_account"),
        "remark": ("remark",),
    },
    "lead": {
        "contact_phones": ("mobile", "phone"),
        "contact_emails": ("email",),
        "address": ("district", "address"),
        "remark": ("remark",),
    },
}
# Activity entries about a customer's contacts ("contact.updated"…) record contact fields.
ACTIVITY_RELATIONS_BY_KIND: dict[str, dict[str, str]] = {"customer": {"contact.": "contacts"}}

# Every key a group may hide has its paths (a key without paths would hide nothing).
_unmapped = {
    kind: sorted(set(keys) - set(PATHS_BY_KIND.get(kind, {})))
    for kind, keys in HIDDEN_FIELD_KEYS_BY_KIND.items()
}
if any(_unmapped.values()):
    raise ImproperlyConfigured(f"pool hidden-field keys without field paths: {_unmapped}")


def _kind(model: type[models.Model]) -> str:
    """The pool kind of a pooled model (``PooledModel.pool_kind``); a model with the pool
    columns that does not name its kind is the kind of its own name (customer, lead)."""
    kind = getattr(model, "pool_kind", "") or ""
    if not kind and {"pooled_at", "pool_group"} <= {f.name for f in model._meta.get_fields()}:
        kind = model._meta.model_name
    return kind


class PoolMaskingRule(masking.MaskingRule):
    """Fields hidden while a row lies in the pool, by its group's setting."""

    def applies_to(self, model: type[models.Model]) -> bool:
        return _kind(model) in PATHS_BY_KIND

    def keys(self, model: type[models.Model]) -> dict[str, tuple[str, ...]]:
        return PATHS_BY_KIND[_kind(model)]

    def activity_relations(self, model: type[models.Model]) -> dict[str, str]:
        return ACTIVITY_RELATIONS_BY_KIND.get(_kind(model), {})

    @staticmethod
    def _lies_in_pool(obj) -> bool:
        return (
            obj.pooled_at is not None
            and obj.pool_group_id is not None
            and getattr(obj, "deleted_at", None) is None
        )

    def hidden_keys(self, user, obj) -> frozenset[str]:
        if not self._lies_in_pool(obj):
            return frozenset()
        # No query when the group is joined (lists select_related it); one otherwise.
        return group_hidden_keys(user, obj.pool_group)

    def hidden_keys_many(self, user, objs: Sequence) -> dict:
        pooled = [obj for obj in objs if self._lies_in_pool(obj)]
        groups = {}
        missing = set()
        for obj in pooled:
            if type(obj).pool_group.is_cached(obj):
                groups[obj.pool_group_id] = obj.pool_group
            else:
                missing.add(obj.pool_group_id)
        missing -= set(groups)
        if missing:
            groups.update({g.pk: g for g in PoolGroup.objects.filter(pk__in=missing)})
        by_group = {pk: group_hidden_keys(user, group) for pk, group in groups.items()}
        result = {obj.pk: frozenset() for obj in objs}
        for obj in pooled:
            result[obj.pk] = by_group[obj.pool_group_id]
        return result

    def shown_q(self, user, model: type[models.Model], key: str) -> Q:
        # SECURITY: the groups of the user's tenant and of the model's kind that hide ``key``
        # from this user (one small query, cached on the user for the request).
        cache = getattr(user, "_masking_pool_hiding", None)
        if cache is None:
            cache = user._masking_pool_hiding = {}
        kind = _kind(model)
        if (kind, key) not in cache:
            groups = PoolGroup.objects.filter(tenant_id=user.tenant_id, kind=kind)
            cache[(kind, key)] = sorted(
                g.pk
                for g in groups
                if key in (g.hidden_fields or []) and not is_group_admin(user, g.pk, kind)
            )
        hiding = cache[(kind, key)]
        if not hiding:
            return Q()
        return Q(pooled_at__isnull=True) | ~Q(pool_group_id__in=hiding)


RULE = masking.register(PoolMaskingRule())
