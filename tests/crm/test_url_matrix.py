"""The URL isolation matrix (DESIGN §4, STYLE "Tests").

For every URL that takes an object id, the object is created in the *other* tenant and a
user of this tenant (with every permission) requests it: the answer must be 404, for GET and
for POST, and the object must be unchanged. A URL with an id that is not in the matrix fails
the completeness test: every module adds its URLs here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_scopes import scopes_disabled

from crm import services
from crm.models import (
    Delivery,
    Department,
    ExportJob,
    ImportJob,
    Notification,
    Option,
    Role,
    Webhook,
)
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    CustomerTag,
    FollowUp,
    FollowUpComment,
    SavedSearch,
)
from pools.models import PoolGroup
from tests.customers.factories import (
    make_contact,
    make_customer,
    make_followup,
    make_participant,
)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _walk(patterns, namespace: str | None = None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            yield from _walk(p.url_patterns, ns)
        elif isinstance(p, URLPattern) and p.name:
            yield (f"{namespace}:{p.name}" if namespace else p.name), p


def object_urls() -> set[str]:
    """Names of the tenant app's URLs that take a parameter (the platform admin is out:
    tenant users never reach it, see test_platform_admin_is_closed_to_tenant_users)."""
    return {
        name
        for name, p in _walk(get_resolver().url_patterns)
        if p.pattern.converters and not name.startswith("admin:")
    }


# name -> builder(world) returning the URL kwargs of an object that belongs to tenant B.
MATRIX: dict[str, Callable] = {
    "crm:department-edit": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:department-move": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:department-toggle": lambda w: {
        "pk": Department.objects.filter(tenant=w.tenant_b).first().pk
    },
    "crm:user-edit": lambda w: {"pk": w.rep_b.pk},
    "crm:user-toggle": lambda w: {"pk": w.rep_b.pk},
    "crm:user-reset-password": lambda w: {"pk": w.rep_b.pk},
    "crm:role-edit": lambda w: {"pk": Role.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:role-delete": lambda w: {
        "pk": Role.objects.filter(tenant=w.tenant_b).exclude(builtin="admin").first().pk
    },
    "crm:option-edit": lambda w: {"pk": Option.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:option-move": lambda w: {"pk": Option.objects.filter(tenant=w.tenant_b).first().pk},
    "crm:notification-read": lambda w: {
        "pk": services.notification_send(
            tenant_id=w.tenant_b.pk, recipients=[w.admin_b], title="b"
        )[0].pk
    },
}


def _customer_b(w) -> Customer:
    """A private customer of tenant B owned by rep_b (B's admin sees it through scope all)."""
    return make_customer(w.tenant_b, w.rep_b, name="乙公司的客户")


def _participant_b(w) -> dict:
    customer = _customer_b(w)
    make_participant(customer, w.admin_b)
    return {"pk": customer.pk, "user_pk": w.admin_b.pk}


def _attachment_b(w) -> Attachment:
    from django.core.files.base import ContentFile

    customer = _customer_b(w)
    attachment = Attachment(
        tenant_id=w.tenant_b.pk,
        record=customer,
        customer=customer,
        original_name="合同.pdf",
        size=7,
        content_type="application/pdf",
        uploaded_by=w.rep_b,
    )
    attachment.file.save("合同.pdf", ContentFile(b"%PDF-b\n"), save=False)
    attachment.save()
    return attachment


def _saved_search_b(w) -> SavedSearch:
    # saved-search-delete only finds the requester's own searches: B's admin owns this one.
    return SavedSearch.objects.create(
        tenant_id=w.tenant_b.pk, user=w.admin_b, name="乙的搜索", query="view=all"
    )


MATRIX.update(
    {
        "customers:customer-detail": lambda w: {"pk": _customer_b(w).pk},
        "customers:customer-edit": lambda w: {"pk": _customer_b(w).pk},
        "customers:customer-tab": lambda w: {"pk": _customer_b(w).pk, "tab": "followups"},
        "customers:customer-lock": lambda w: {"pk": _customer_b(w).pk},
        "customers:customer-star": lambda w: {"pk": _customer_b(w).pk},
        "customers:customer-participants": lambda w: {"pk": _customer_b(w).pk},
        "customers:customer-participant-remove": _participant_b,
        "customers:followup-create": lambda w: {"pk": _customer_b(w).pk},
        "customers:contact-create": lambda w: {"pk": _customer_b(w).pk},
        "customers:attachment-create": lambda w: {"pk": _customer_b(w).pk},
        "customers:attachment-download": lambda w: {"pk": _attachment_b(w).pk},
        "customers:attachment-delete": lambda w: {"pk": _attachment_b(w).pk},
        "customers:contact-edit": lambda w: {"pk": make_contact(_customer_b(w), "乙联系人").pk},
        "customers:contact-delete": lambda w: {"pk": make_contact(_customer_b(w), "乙联系人").pk},
        "customers:followup-comment": lambda w: {
            "pk": make_followup(_customer_b(w), w.rep_b, "乙的跟进").pk
        },
        "customers:saved-search-delete": lambda w: {"pk": _saved_search_b(w).pk},
        "pools:group-edit": lambda w: {"pk": _pool_group_b(w).pk},
        "pools:group-delete": lambda w: {"pk": _pool_group_b(w).pk},
    }
)


def _import_job_b(w):
    """A finished import of tenant B, with an error file (B's admin may open it)."""
    import gzip

    from django.core.files.base import ContentFile

    job = ImportJob(
        tenant_id=w.tenant_b.pk,
        kind="customers",
        status=ImportJob.Status.PREVIEWED,
        created_by=w.admin_b,
        original_name="乙的名单.xlsx",
        options={"target": "pool", "duplicate_mode": "skip", "duplicate_keys": "either"},
        summary={"create": 0, "update": 0, "skip": 0, "reject": 1},
    )
    job.error_file.save("errors.xlsx", ContentFile(b"PK-b"), save=False)
    job.plan.save("plan.json.gz", ContentFile(gzip.compress(b"[]")), save=False)
    job.save()
    return job


MATRIX.update(
    {
        "crm:import-detail": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-progress": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-confirm": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-cancel": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-remap": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-undo": lambda w: {"pk": _import_job_b(w).pk},
        "crm:import-errors": lambda w: {"pk": _import_job_b(w).pk},
    }
)


def _pool_group_b(w):
    """A deletable (empty, not default) pool group of tenant B."""
    from pools.models import PoolGroup

    return PoolGroup.objects.create(tenant=w.tenant_b, name="乙的公海")


def _export_job_b(w):
    """A finished export of tenant B's admin, with its file (crm.exporting)."""
    from django.core.files.base import ContentFile

    from crm.models import ExportJob

    job = ExportJob.objects.create(
        tenant=w.tenant_b, kind="customers", status="done", created_by=w.admin_b, row_count=1
    )
    job.file.save("customers.xlsx", ContentFile(b"PK-tenant-b"), save=True)
    return job


MATRIX["crm:export-download"] = lambda w: {"pk": _export_job_b(w).pk}


def _lead_b(w):
    """An open lead of tenant B owned by rep_b (B's admin sees it through scope all)."""
    from tests.leads.factories import make_lead

    return make_lead(w.tenant_b, w.rep_b, company="乙公司的线索")


MATRIX["leads:lead-convert"] = lambda w: {"pk": _lead_b(w).pk}


def _campaign_b(w):
    """A campaign of tenant B that no lead names (deletable)."""
    from tests.leads.factories import make_campaign

    return make_campaign(w.tenant_b, "乙的活动")


def _rule_b(w):
    """An assignment rule of tenant B handing leads to rep_b."""
    from tests.leads.factories import make_rule

    return make_rule(w.tenant_b, [w.rep_b], "乙的分配规则")


MATRIX.update(
    {
        "leads:campaign-edit": lambda w: {"pk": _campaign_b(w).pk},
        "leads:campaign-delete": lambda w: {"pk": _campaign_b(w).pk},
        "leads:rule-edit": lambda w: {"pk": _rule_b(w).pk},
        "leads:rule-delete": lambda w: {"pk": _rule_b(w).pk},
        "leads:rule-move": lambda w: {"pk": _rule_b(w).pk},
    }
)


def _lead_attachment_b(w):
    """A file on an open lead of tenant B (leads CORE: download and delete)."""
    from django.core.files.base import ContentFile

    attachment = Attachment(
        tenant_id=w.tenant_b.pk,
        record=_lead_b(w),
        original_name="线索资料.pdf",
        size=7,
        content_type="application/pdf",
        uploaded_by=w.rep_b,
    )
    attachment.file.save("线索资料.pdf", ContentFile(b"%PDF-b\n"), save=False)
    attachment.save()
    return attachment


MATRIX.update(
    {
        "leads:lead-detail": lambda w: {"pk": _lead_b(w).pk},
        "leads:lead-edit": lambda w: {"pk": _lead_b(w).pk},
        "leads:lead-tab": lambda w: {"pk": _lead_b(w).pk, "tab": "followups"},
        "leads:lead-followup-add": lambda w: {"pk": _lead_b(w).pk},
        "leads:lead-attachment-add": lambda w: {"pk": _lead_b(w).pk},
        "leads:lead-attachment-download": lambda w: {"pk": _lead_attachment_b(w).pk},
        "leads:lead-attachment-delete": lambda w: {"pk": _lead_attachment_b(w).pk},
    }
)


def _lead_pool_b(w):
    """A deletable (empty, not default) lead pool of tenant B."""
    return PoolGroup.objects.create(tenant=w.tenant_b, kind="lead", name="乙的线索池")


MATRIX.update(
    {
        "leads:pool-group-edit": lambda w: {"pk": _lead_pool_b(w).pk},
        "leads:pool-group-delete": lambda w: {"pk": _lead_pool_b(w).pk},
    }
)


def _department_webhook_b(w):
    """The group bot of tenant B's department (reminder settings, issue 18)."""
    return Webhook.objects.create(
        tenant=w.tenant_b,
        department=w.rep_b.department,
        provider="dingtalk",
        url="https://oapi.dingtalk.com/robot/send?access_token=b",
    )


def _failed_delivery_b(w):
    """A failed group-bot delivery of tenant B (the delivery log's retry)."""
    return Delivery.objects.create(
        tenant=w.tenant_b,
        channel="webhook",
        recipient=w.rep_b,
        target="https://oapi.dingtalk.com/robot/send?access_token=b",
        subject="乙的提醒",
        status="failed",
    )


MATRIX.update(
    {
        "crm:department-webhook-edit": lambda w: {"pk": _department_webhook_b(w).pk},
        "crm:department-webhook-delete": lambda w: {"pk": _department_webhook_b(w).pk},
        "crm:department-webhook-test": lambda w: {"pk": _department_webhook_b(w).pk},
        "crm:delivery-retry": lambda w: {"pk": _failed_delivery_b(w).pk},
    }
)


# Opportunities (issue 20): the pages' and the catalogue's URLs, with their builders.
from tests.opportunities.test_pages_matrix import PAGES_MATRIX  # noqa: E402
from tests.opportunities.test_products_matrix import PRODUCT_MATRIX  # noqa: E402

MATRIX.update(PAGES_MATRIX)
MATRIX.update(PRODUCT_MATRIX)


def missing_kwargs(kwargs: dict) -> dict:
    """The same URL naming an object that does not exist: the catalogue import's URLs take
    the waiting file's ``key``, every other one a ``pk``."""
    if "key" in kwargs:
        return {**kwargs, "key": "x" * 24}
    return {**kwargs, "pk": 999_999_999}


def test_matrix_covers_every_url_with_an_object_id():
    missing = sorted(object_urls() - set(MATRIX))
    assert missing == [], f"add these URLs to the isolation matrix: {missing}"
    stale = sorted(set(MATRIX) - object_urls())
    assert stale == [], f"the matrix names URLs that no longer exist: {stale}"


def _snapshot(world):
    with scopes_disabled():
        return (
            sorted(
                Department.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "name", "path", "is_active"
                )
            ),
            sorted(Role.objects.filter(tenant=world.tenant_b).values_list("pk", "name")),
            sorted(
                Option.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "label", "sort_order", "is_active"
                )
            ),
            world.rep_b.__class__.objects.filter(pk=world.rep_b.pk)
            .values_list("password", "is_active")
            .get(),
            sorted(Notification.objects.filter(tenant=world.tenant_b).values_list("pk", "read_at")),
            sorted(
                PoolGroup.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "name", "is_enabled", "claim_mode", "recycle_no_followup_days"
                )
            ),
            sorted(
                Customer.objects.filter(tenant=world.tenant_b).values_list(
                    "pk",
                    "name",
                    "owner_id",
                    "is_locked",
                    "visibility",
                    "status_id",
                    "deleted_at",
                    "last_followup_at",
                    "next_followup_at",
                    "updated_at",
                    "pool_group_id",
                    "pooled_at",
                )
            ),
            sorted(
                Contact.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "name", "mobile", "phone", "updated_at"
                )
            ),
            sorted(
                FollowUp.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "content", "next_followup_at"
                )
            ),
            sorted(
                FollowUpComment.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "followup_id", "content"
                )
            ),
            sorted(
                Attachment.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "file", "original_name"
                )
            ),
            sorted(
                SavedSearch.objects.filter(tenant=world.tenant_b).values_list("pk", "name", "query")
            ),
            sorted(
                CustomerParticipant.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "user_id"
                )
            ),
            sorted(
                CustomerStar.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "user_id"
                )
            ),
            sorted(
                CustomerTag.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "customer_id", "tag_id"
                )
            ),
            sorted(
                (pk, status, str(summary))
                for pk, status, summary in ImportJob.objects.filter(
                    tenant=world.tenant_b
                ).values_list("pk", "status", "summary")
            ),
            sorted(ExportJob.objects.filter(tenant=world.tenant_b).values_list("pk", "status")),
            sorted(
                Webhook.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "provider", "url", "secret", "is_active"
                )
            ),
            sorted(
                Delivery.objects.filter(tenant=world.tenant_b).values_list(
                    "pk", "status", "next_attempt_at", "attempts"
                )
            ),
            _leads_snapshot(world),
            _opportunities_snapshot(world),
        )


def _leads_snapshot(world):
    from leads.models import Lead

    return sorted(
        Lead.objects.filter(tenant=world.tenant_b).values_list(
            "pk", "name", "owner_id", "status", "last_followup_at", "updated_at", "pooled_at"
        )
    )


def _opportunities_snapshot(world):
    from opportunities.models import (
        Opportunity,
        OpportunityContact,
        OpportunityParticipant,
        OpportunityStage,
        Product,
        ProductCategory,
        ProductImage,
    )

    return (
        sorted(
            Opportunity.objects.filter(tenant=world.tenant_b).values_list(
                "pk",
                "name",
                "owner_id",
                "stage_id",
                "status",
                "amount",
                "closed_date",
                "updated_at",
            )
        ),
        sorted(
            OpportunityStage.objects.filter(tenant=world.tenant_b).values_list(
                "pk", "name", "sort", "probability", "is_active"
            )
        ),
        sorted(
            OpportunityContact.objects.filter(tenant=world.tenant_b).values_list(
                "pk", "contact_id", "is_primary"
            )
        ),
        sorted(
            OpportunityParticipant.objects.filter(tenant=world.tenant_b).values_list(
                "pk", "user_id"
            )
        ),
        sorted(
            Product.objects.filter(tenant=world.tenant_b).values_list(
                "pk", "code", "name", "category_id", "price", "stock", "status", "updated_at"
            )
        ),
        sorted(
            ProductCategory.objects.filter(tenant=world.tenant_b).values_list(
                "pk", "name", "parent_id", "path", "level", "sort"
            )
        ),
        sorted(ProductImage.objects.filter(tenant=world.tenant_b).values_list("pk", "file")),
    )


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_other_tenants_object_is_404_for_get_and_post(name, world, login):
    with scopes_disabled():
        kwargs = MATRIX[name](world)
    url = reverse(name, kwargs=kwargs)
    missing_url = reverse(name, kwargs=missing_kwargs(kwargs))
    client = login(world.admin_a)  # every permission, data scope "all"
    before = _snapshot(world)
    # POST-only URLs answer 405 to GET whatever the id: no difference from a missing row.
    get_status = client.get(url).status_code
    assert get_status in (404, 405)
    assert get_status == client.get(missing_url).status_code
    post = client.post(url, {"name": "x", "label": "x", "parent": "", "direction": "up"})
    assert post.status_code == 404
    assert client.post(url, {}, HTTP_HX_REQUEST="true").status_code == 404
    assert _snapshot(world) == before


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_own_tenants_object_is_reachable(name, world, login):
    """The matrix is not vacuous: the same URL with an object of tenant B works for B's
    admin (anything but 404)."""
    with scopes_disabled():
        kwargs = MATRIX[name](world)
    client = login(world.admin_b)
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"direction": "up"})
    assert response.status_code in (200, 302)


def test_platform_admin_is_closed_to_tenant_users(world, login):
    client = login(world.admin_a)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
