"""Customer test data, written straight to the tables (no service, no rights check).

Every helper takes the tenant from its parent (the customer, the user) and passes it down,
so a child never lands in a second tenant by accident.
"""

from __future__ import annotations

import itertools

from django.contrib.auth.models import Permission
from django_scopes import scopes_disabled

from crm.models import ActivityLog, Notification, Option, Tenant, User
from customers.models import (
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    CustomerTag,
    CustomerUserObjectPermission,
    FollowUp,
    OwnershipEvent,
    Tag,
)

_names = itertools.count(1)


def make_customer(
    tenant: Tenant, owner: User | None, name: str | None = None, **fields
) -> Customer:
    """A customer of ``tenant`` owned by ``owner`` (None: nobody responsible)."""
    with scopes_disabled():
        return Customer.objects.create(
            tenant=tenant,
            owner=owner,
            created_by=owner,
            name=name or f"测试客户{next(_names)}",
            **fields,
        )


def make_contact(customer: Customer, name: str = "联系人", **fields) -> Contact:
    with scopes_disabled():
        return Contact.objects.create(
            tenant_id=customer.tenant_id, customer=customer, name=name, **fields
        )


def make_followup(customer: Customer, author: User, content: str = "电话沟通", **fields):
    # What followup_create sets: the customer's lifecycle, "" while it is in the recycle bin.
    fields.setdefault("counts_as", "" if customer.deleted_at else customer.lifecycle)
    with scopes_disabled():
        return FollowUp.objects.create(
            tenant_id=customer.tenant_id,
            record=customer,
            customer=customer,
            created_by=author,
            content=content,
            **fields,
        )


def make_participant(customer: Customer, user: User, *, can_edit: bool = False):
    """A participant row, plus the django-guardian edit grant when ``can_edit``."""
    with scopes_disabled():
        row = CustomerParticipant.objects.create(
            tenant_id=customer.tenant_id, customer=customer, user=user
        )
        if can_edit:
            CustomerUserObjectPermission.objects.create(
                tenant_id=customer.tenant_id,
                user=user,
                permission=change_customer_permission(),
                content_object=customer,
            )
        return row


def make_tag(tenant: Tenant, name: str) -> Tag:
    with scopes_disabled():
        return Tag.objects.create(tenant=tenant, name=name)


def tag_customer(customer: Customer, *tags: Tag) -> None:
    with scopes_disabled():
        for tag in tags:
            CustomerTag.objects.create(tenant_id=customer.tenant_id, customer=customer, tag=tag)


def make_star(customer: Customer, user: User) -> CustomerStar:
    with scopes_disabled():
        return CustomerStar.objects.create(
            tenant_id=customer.tenant_id, customer=customer, user=user
        )


def option(tenant: Tenant, kind: str) -> Option:
    """One of the tenant's default options of ``kind`` (tenant_create seeds them)."""
    with scopes_disabled():
        found = Option.objects.filter(tenant=tenant, kind=kind).order_by("sort_order", "id")
        return found.first() or Option.objects.create(tenant=tenant, kind=kind, label="测试")


def change_customer_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="customers", codename="change_customer")


# ---------------------------------------------------------------- reading back


def fresh(obj):
    """The row as the database has it now (outside any scope)."""
    with scopes_disabled():
        return type(obj)._base_manager.get(pk=obj.pk)


def exists(obj) -> bool:
    with scopes_disabled():
        return type(obj)._base_manager.filter(pk=obj.pk).exists()


def logs(obj, action: str | None = None) -> list[ActivityLog]:
    with scopes_disabled():
        qs = ActivityLog.objects.for_object(obj).select_related("actor")
        return list(qs.filter(action=action) if action else qs)


def events(customer: Customer, kind: str | None = None) -> list[OwnershipEvent]:
    with scopes_disabled():
        qs = OwnershipEvent.objects.filter(customer_id=customer.pk).order_by("id")
        return list(qs.filter(kind=kind) if kind else qs)


def notifications(user: User) -> list[Notification]:
    with scopes_disabled():
        return list(Notification.objects.filter(recipient=user).order_by("id"))
