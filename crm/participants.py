"""Participants of any owned record (我参与的): one mechanism for customers today and every
owned model after them (opportunities, contracts, orders, service tickets).

An owned model (crm.models.OwnedModel) declares its participants as
``participants = ManyToManyField(User, through=...)``; the through model holds the record's
foreign key and ``user`` (and, when it has them, ``tenant`` and ``added_by``). Who sees a record
through it is crm.visibility's (``participated_q``); the edit right of a participant is the
django-guardian grant ``<app>.change_<model>`` on the record (crm.visibility.can_edit), kept
in the model's direct foreign-key permission table when it has one
(``guardian.utils.get_user_obj_perms_model``).

These functions write the rows only, set-based; the owning module's service checks the actor's
rights, the users' tenant and activity, and writes the activity log.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet
from guardian.utils import get_user_obj_perms_model

from crm.models import User
from crm.visibility import participants_relation


def _relation(record: models.Model) -> tuple[type[models.Model], str]:
    relation = participants_relation(type(record))
    if relation is None:
        raise LookupError(f"{type(record).__name__} has no participants")
    return relation


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


def edit_grant(record: models.Model) -> Permission:
    """The permission a participant with edit rights holds on ``record``."""
    meta = type(record)._meta
    return Permission.objects.get(
        content_type__app_label=meta.app_label, codename=f"change_{meta.model_name}"
    )


def _object_grants(record: models.Model) -> QuerySet:
    """Every user grant on ``record`` (its model's direct table, or guardian's generic one)."""
    table = get_user_obj_perms_model(record)
    if table.objects.is_generic():
        return table.objects.filter(
            content_type=ContentType.objects.get_for_model(record), object_pk=str(record.pk)
        )
    return table.objects.filter(content_object=record)


def _grants(record: models.Model) -> QuerySet:
    """The edit grants on ``record``."""
    return _object_grants(record).filter(permission=edit_grant(record))


def participant_ids(record: models.Model) -> set[int]:
    through, fk = _relation(record)
    return set(through.objects.filter(**{fk: record}).values_list("user_id", flat=True))


def editor_ids(record: models.Model) -> set[int]:
    """The users holding the edit grant on ``record``."""
    return set(_grants(record).values_list("user_id", flat=True))


def participants_add(
    *, actor: User | None, record: models.Model, users: Iterable[User], can_edit: bool
) -> list[User]:
    """Make ``users`` participants of ``record`` (its owner never: owning is more); with
    ``can_edit`` they hold the edit grant, without it participants among them lose it (they
    read only). Returns the users who were not participants before."""
    through, fk = _relation(record)
    users = [u for u in users if u.pk != getattr(record, "owner_id", None)]
    existing = participant_ids(record)
    added = [u for u in users if u.pk not in existing]
    extra = {}
    if _has_field(through, "tenant"):
        extra["tenant_id"] = record.tenant_id
    if actor is not None and _has_field(through, "added_by"):
        extra["added_by"] = actor
    through.objects.bulk_create(through(**{fk: record}, user=u, **extra) for u in added)
    if can_edit:
        granted = editor_ids(record)
        _grant(record, [u for u in users if u.pk not in granted])
    else:
        _grants(record).filter(user__in=[u for u in users if u.pk in existing]).delete()
    return added


def _grant(record: models.Model, users: list[User]) -> None:
    table = get_user_obj_perms_model(record)
    permission = edit_grant(record)
    where = (
        {"content_type": ContentType.objects.get_for_model(record), "object_pk": str(record.pk)}
        if table.objects.is_generic()
        else {"content_object": record}
    )
    if _has_field(table, "tenant"):
        where["tenant_id"] = record.tenant_id
    table.objects.bulk_create(table(user=u, permission=permission, **where) for u in users)


def participant_remove(*, record: models.Model, user: User) -> None:
    """``user`` leaves ``record``'s team, with every grant they held on it."""
    through, fk = _relation(record)
    through.objects.filter(**{fk: record}, user=user).delete()
    _object_grants(record).filter(user=user).delete()
