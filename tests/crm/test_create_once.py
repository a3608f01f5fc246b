"""Every create of the project, submitted twice, creates once and never answers a 500
(issue 15, "double-submitting … any other create is idempotent").

``CREATES`` lists every URL whose POST creates something (a record, an import or an export
job, a participant, a converted customer), with a valid form. Each is posted twice with one
one-time token (``crm.idempotency``, as a double click sends it): exactly one record, and
the second answer is the first one (status, Location, and for a download the same file).
Posted twice *without* a token (an old page, a script), neither answer is a 500 and a
second record with the same unique name is refused with a clear message.

The structure test keeps the list complete: a URL whose view carries ``@once``, or whose
name says it creates (``…-create``, ``…-add``, ``…-export``, ``…-import`` …), is either in
``CREATES`` or in ``NOT_NEEDED`` with the reason.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import get_resolver, resolve, reverse
from django_scopes import scopes_disabled

from crm import idempotency
from crm.models import (
    ActivityLog,
    DataScope,
    Department,
    ExportJob,
    ImportJob,
    Option,
    OptionKind,
    Role,
    User,
    Webhook,
)
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    FollowUp,
    FollowUpComment,
    SavedSearch,
)
from leads.models import AssignmentRule, Campaign, Lead
from opportunities.models import Product
from pools.models import PoolGroup
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.crm.test_url_matrix import _walk
from tests.customers.factories import make_customer, make_followup, option
from tests.factories import PASSWORD
from tests.leads.factories import make_lead, make_lead_pool
from tests.pools.test_concurrency import _run_threads
from tests.pools.test_settings_views import form_data as pool_group_form


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _count(model, **filters) -> Callable[[], int]:
    def count() -> int:
        with scopes_disabled():
            return model.objects.filter(**filters).count()

    return count


@dataclass
class Form:
    """One create form, ready to post: who posts it, where, what, and how to count what it
    creates. ``files``: fields holding an upload (a fresh one for every post).
    ``unique``: a second record with the same data is refused (a unique name)."""

    user: User
    url: str
    data: dict
    count: Callable[[], int]
    files: dict[str, Callable[[], SimpleUploadedFile]] = field(default_factory=dict)
    unique: bool = False


def _pdf():
    return SimpleUploadedFile("方案.pdf", b"%PDF-1.4 x", content_type="application/pdf")


def _customer_sheet():
    rows = [["双击导入客户", "13900001111"]]
    return SimpleUploadedFile("名单.xlsx", files.xlsx_bytes(["客户名称", "联系电话"], rows))


def _lead_sheet():
    rows = [["双击", "双击导入公司", "13900002222"]]
    return SimpleUploadedFile("线索.xlsx", files.xlsx_bytes(["姓名", "公司名称", "手机"], rows))


IMPORT_OPTIONS = {
    "target": "pool",
    "distribution": "even",
    "duplicate_mode": "skip",
    "duplicate_keys": "either",
}


def _department(w) -> Form:
    return Form(
        w.admin_a,
        reverse("crm:department-list"),
        {"name": "双击部门"},
        _count(Department, tenant=w.tenant_a, name="双击部门"),
        unique=True,
    )


def _department_webhook(w) -> Form:
    # One group bot per department: a second save replaces it (never a second row).
    return Form(
        w.admin_a,
        reverse("crm:department-webhook-create"),
        {
            "department": w.east.pk,
            "provider": "dingtalk",
            "url": "https://oapi.dingtalk.com/robot/send?access_token=double",
            "secret": "",
        },
        _count(Webhook, tenant=w.tenant_a, department=w.east),
    )


def _role(w) -> Form:
    return Form(
        w.admin_a,
        reverse("crm:role-create"),
        {"name": "双击角色", "data_scope": DataScope.OWN},
        _count(Role, tenant=w.tenant_a, name="双击角色"),
        unique=True,
    )


def _option(w) -> Form:
    kind = OptionKind.CUSTOMER_SOURCE
    return Form(
        w.admin_a,
        f"{reverse('crm:option-list')}?kind={kind}",
        {"kind": kind, "label": "双击来源"},
        _count(Option, tenant=w.tenant_a, kind=kind, label="双击来源"),
        unique=True,
    )


def _pool_group(w) -> Form:
    return Form(
        w.admin_a,
        reverse("pools:group-create"),
        pool_group_form(w.tenant_a, name="双击公海"),
        _count(PoolGroup, tenant=w.tenant_a, name="双击公海"),
        unique=True,
    )


def _lead_pool(w) -> Form:
    data = {
        "name": "双击线索池",
        "is_enabled": "on",
        "sort_order": 0,
        "claim_mode": "self",
        "daily_claim_limit": 0,
        "holding_limit": 0,
        "cooldown_days": 0,
        "warn_days": 2,
        "departments": [w.east.pk],
    }
    return Form(
        w.admin_a,
        reverse("leads:pool-group-create"),
        data,
        _count(PoolGroup, tenant=w.tenant_a, name="双击线索池"),
        unique=True,
    )


def _campaign(w) -> Form:
    return Form(
        w.admin_a,
        reverse("leads:campaign-create"),
        {"name": "双击活动", "cost": "0"},
        _count(Campaign, tenant=w.tenant_a, name="双击活动"),
        unique=True,
    )


def _rule(w) -> Form:
    data = {
        "name": "双击规则",
        "is_enabled": "on",
        "on_create": "on",
        "daily_limit": "0",
        "holding_limit": "0",
        "users": [str(w.rep_east.pk), "", ""],
    }
    return Form(
        w.admin_a,
        reverse("leads:rule-create"),
        data,
        _count(AssignmentRule, tenant=w.tenant_a, name="双击规则"),
        unique=True,
    )


def _customer_import(w) -> Form:
    with scopes_disabled():
        group = default_group_for(w.tenant_a.pk, "customer")
    return Form(
        w.admin_a,
        reverse("customers:import-start"),
        {**IMPORT_OPTIONS, "pool_group": group.pk},
        _count(ImportJob, tenant=w.tenant_a, kind=ImportJob.Kind.CUSTOMERS),
        files={"file": _customer_sheet},
    )


def _lead_import(w) -> Form:
    pool = make_lead_pool(w.tenant_a, "导入线索池")
    return Form(
        w.admin_a,
        reverse("leads:lead-import"),
        {**IMPORT_OPTIONS, "pool_group": pool.pk},
        _count(ImportJob, tenant=w.tenant_a, kind=ImportJob.Kind.LEADS),
        files={"file": _lead_sheet},
    )


def _remap(w) -> Form:
    """The mapping step of a checked import (issue 17): remembers the mapping (one row per
    header set) and checks the file again."""
    from crm import importing
    from crm.models import ImportMapping
    from crm.tenancy import tenant_scope

    with tenant_scope(w.tenant_a.pk):
        job = importing.import_start(
            actor=w.admin_a,
            kind=ImportJob.Kind.CUSTOMERS,
            upload=_customer_sheet(),
            options={
                **IMPORT_OPTIONS,
                "pool_group": default_group_for(w.tenant_a.pk, "customer").pk,
            },
        )
    return Form(
        w.admin_a,
        reverse("crm:import-remap", args=[job.pk]),
        {"col-0": "name", "col-1": ""},
        _count(ImportMapping, tenant=w.tenant_a),
    )


def _export(name: str, kind: str, setup=None):
    def build(w) -> Form:
        if setup is not None:
            setup(w)
        return Form(
            w.admin_a,
            reverse(name),
            {"next": "/"},
            _count(ExportJob, tenant=w.tenant_a, kind=kind),
        )

    return build


def _a_customer(w):
    make_customer(w.tenant_a, w.admin_a, "导出客户")


def _participants(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east, "团队客户")
    return Form(
        w.rep_east,
        reverse("customers:customer-participants", args=[customer.pk]),
        {"users": [w.rep_east2.pk], "can_edit": "on"},
        _count(CustomerParticipant, customer=customer),
    )


def _convert(w) -> Form:
    lead = make_lead(w.tenant_a, w.rep_east, "双击转换", company="双击转换公司")
    return Form(
        w.rep_east,
        reverse("leads:lead-convert", args=[lead.pk]),
        {"target": "new", "name": "双击转换公司", "contact": "on"},
        _count(Customer, tenant=w.tenant_a, name="双击转换公司"),
    )


def _convert_batch(w) -> Form:
    lead = make_lead(w.tenant_a, w.rep_east, "批量转换", company="批量转换公司")
    return Form(
        w.rep_east,
        reverse("leads:lead-convert-batch"),
        {"ids": [lead.pk], "next": reverse("leads:lead-list")},
        _count(Customer, tenant=w.tenant_a, name="批量转换公司"),
    )


def _customer(w) -> Form:
    return Form(
        w.rep_east,
        reverse("customers:customer-create"),
        {"name": "双击客户", "visibility": "private"},
        _count(Customer, tenant=w.tenant_a, name="双击客户"),
    )


def _lead(w) -> Form:
    return Form(
        w.rep_east,
        reverse("leads:lead-create"),
        {"name": "张双击", "company": "双击线索公司"},
        _count(Lead, tenant=w.tenant_a, company="双击线索公司"),
    )


def _followup(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east)
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    return Form(
        w.rep_east,
        reverse("customers:followup-create", args=[customer.pk]),
        {"kind": kind.pk, "content": "双击跟进"},
        _count(FollowUp, content="双击跟进"),
    )


def _contact(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east)
    return Form(
        w.rep_east,
        reverse("customers:contact-create", args=[customer.pk]),
        {"name": "双击联系人"},
        _count(Contact, name="双击联系人"),
    )


def _attachment(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east)
    return Form(
        w.rep_east,
        reverse("customers:attachment-create", args=[customer.pk]),
        {},
        _count(Attachment, tenant=w.tenant_a),
        files={"file": _pdf},
    )


def _comment(w) -> Form:
    followup = make_followup(make_customer(w.tenant_a, w.rep_east), w.rep_east)
    return Form(
        w.manager_sales,
        reverse("customers:followup-comment", args=[followup.pk]),
        {"content": "双击点评"},
        _count(FollowUpComment, content="双击点评"),
    )


def _lead_followup(w) -> Form:
    lead = make_lead(w.tenant_a, w.rep_east)
    kind = option(w.tenant_a, OptionKind.FOLLOWUP_TYPE)
    return Form(
        w.rep_east,
        reverse("leads:lead-followup-add", args=[lead.pk]),
        {"kind": kind.pk, "content": "线索双击跟进"},
        _count(FollowUp, content="线索双击跟进"),
    )


def _lead_attachment(w) -> Form:
    lead = make_lead(w.tenant_a, w.rep_east)
    return Form(
        w.rep_east,
        reverse("leads:lead-attachment-add", args=[lead.pk]),
        {},
        _count(Attachment, tenant=w.tenant_a),
        files={"file": _pdf},
    )


def _saved_search(w) -> Form:
    return Form(
        w.rep_east,
        reverse("customers:saved-search-create"),
        {"name": "双击搜索", "query": "q=长沙", "list_kind": "customers"},
        _count(SavedSearch, user=w.rep_east, name="双击搜索"),
    )


def _star(w) -> Form:
    customer = make_customer(w.tenant_a, w.rep_east)
    return Form(
        w.rep_east,
        reverse("customers:customer-star", args=[customer.pk]),
        {"starred": "1"},
        _count(CustomerStar, customer=customer),
    )


# Every URL whose POST creates something, with a valid form.
CREATES: dict[str, Callable] = {
    # Settings (crm, pools, leads).
    "crm:department-list": _department,  # the list page's POST adds a department
    "crm:role-create": _role,
    "crm:option-list": _option,  # the list page's POST adds an option
    "crm:department-webhook-create": _department_webhook,
    "pools:group-create": _pool_group,
    "leads:pool-group-create": _lead_pool,
    "leads:campaign-create": _campaign,
    "leads:rule-create": _rule,
    # Imports: one job per submission.
    "customers:import-start": _customer_import,
    "leads:lead-import": _lead_import,
    "crm:import-remap": _remap,  # the mapping step: one remembered mapping
    # Exports: one job per submission (a small one is the download itself).
    "customers:customer-export": _export("customers:customer-export", "customers", _a_customer),
    "customers:contact-export": _export("customers:contact-export", "contacts"),
    "customers:followup-export": _export("customers:followup-export", "followups"),
    "customers:pool-export": _export("customers:pool-export", "pool"),
    "leads:lead-export": _export("leads:lead-export", "leads"),
    # Records and what hangs on them.
    "customers:customer-create": _customer,
    "leads:lead-create": _lead,
    "customers:followup-create": _followup,
    "customers:contact-create": _contact,
    "customers:attachment-create": _attachment,
    "customers:followup-comment": _comment,
    "customers:customer-participants": _participants,
    "leads:lead-followup-add": _lead_followup,
    "leads:lead-attachment-add": _lead_attachment,
    "leads:lead-convert": _convert,
    "leads:lead-convert-batch": _convert_batch,
    # Idempotent without a token (their forms carry none): the service answers a repeat
    # with what exists (a saved search saved again, a star that says what it wants).
    "customers:saved-search-create": _saved_search,
    "customers:customer-star": _star,
}
IDEMPOTENT_WITHOUT_TOKEN = {"customers:saved-search-create", "customers:customer-star"}


# Opportunities (issue 20): the pages' creates (their builders live with the pages' tests)
# and the catalogue's.
def _category(w) -> Form:
    from opportunities.models import ProductCategory

    return Form(
        w.admin_a,
        reverse("opportunities:category-list"),
        {"name": "双击分类", "sort": "0"},
        _count(ProductCategory, tenant=w.tenant_a, name="双击分类"),
        unique=True,  # a name is unique among its siblings
    )


def _product(w) -> Form:
    from tests.opportunities.factories import make_category

    return Form(
        w.admin_a,
        reverse("opportunities:product-create"),
        {
            "code": "DOUBLE-1",
            "name": "双击产品",
            "category": make_category(w.tenant_a, "双击分类").pk,
            "price": "100",
            "status": "on_sale",
        },
        _count(Product, tenant=w.tenant_a, name="双击产品"),
        unique=True,  # the product code is unique in the tenant
    )


def _product_import_confirm(w) -> Form:
    """The catalogue import's confirmation of a waiting file (its template's example row)."""
    from crm.tenancy import tenant_scope
    from opportunities import importing

    with tenant_scope(w.tenant_a.pk):
        data = importing.template_file(tenant_id=w.tenant_a.pk)
        outcome = importing.import_check(actor=w.admin_a, data=data, file_name="双击.xlsx")
        key = importing.pending_save(
            actor=w.admin_a, data=data, file_name="双击.xlsx", outcome=outcome
        )
    return Form(
        w.admin_a,
        reverse("opportunities:product-import-confirm", args=[key]),
        {},
        _count(Product, tenant=w.tenant_a),
    )


def _a_product(w):
    from tests.opportunities.factories import make_product

    make_product(w.tenant_a, "导出产品", code="EXP-1")


from tests.opportunities.test_pages_once import PAGES_CREATES  # noqa: E402

CREATES.update(PAGES_CREATES)
CREATES.update(
    {
        "opportunities:product-create": _product,
        "opportunities:category-list": _category,
        "opportunities:product-import-confirm": _product_import_confirm,
        "opportunities:product-export": _export(
            "opportunities:product-export", "products", _a_product
        ),
    }
)

# URLs whose name looks like a create but that need no one-time token, and why.
NOT_NEEDED = {
    # Its answer shows the generated password once: @once would keep it in the cache.
    # A second submission is refused as "username taken" (test below).
    "crm:user-create": "password shown once; a repeat is refused as a taken username",
    "leads:lead-stats": "a GET that redirects to the reports' 线索转换率: it writes nothing",
    "opportunities:product-import": (
        "the upload only keeps the file waiting and shows what it would do; the import is "
        "its tokened confirmation (product-import-confirm)"
    ),
}

# Names that say "this POST creates something".
CREATING = re.compile(r"-(create|add|export|import|start|comment|convert|convert-batch)$")


def _url_views():
    return {
        name: p.callback
        for name, p in _walk(get_resolver().url_patterns)
        if not name.startswith("admin:")
    }


def test_every_create_url_is_swept_or_explained():
    views = _url_views()
    tokened = {name for name, view in views.items() if hasattr(view, "once_vary")}
    creating = {name for name in views if CREATING.search(name.split(":")[-1])}
    assert set(CREATES) <= set(views), set(CREATES) - set(views)
    assert set(NOT_NEEDED) <= set(views)
    assert not set(CREATES) & set(NOT_NEEDED)
    assert tokened <= set(CREATES), f"tokened but not swept: {tokened - set(CREATES)}"
    missing = creating - set(CREATES) - set(NOT_NEEDED)
    assert not missing, f"creates that are neither swept nor explained: {missing}"
    # What the sweep posts a token to is tokened, unless the service is idempotent itself.
    assert set(CREATES) - tokened == IDEMPOTENT_WITHOUT_TOKEN


def _post(client, form: Form, extra: dict):
    data = {**form.data, **{k: make() for k, make in form.files.items()}, **extra}
    return client.post(form.url, data)


def _answer(response) -> tuple:
    body = response.content if "attachment" in response.get("Content-Disposition", "") else b""
    return response.status_code, response.get("Location"), body


@pytest.mark.parametrize("name", sorted(CREATES))
def test_the_same_form_posted_twice_creates_once_and_answers_alike(world, as_user, name):
    form = CREATES[name](world)
    client = as_user(form.user)
    before = form.count()
    token = {idempotency.FIELD: idempotency.new_token()}
    first = _post(client, form, token)
    second = _post(client, form, token)
    assert first.status_code < 400, (first.status_code, first.content[:500])
    assert form.count() == before + 1
    assert _answer(second) == _answer(first)


@pytest.mark.parametrize("name", sorted(CREATES))
def test_posted_twice_without_a_token_never_a_server_error(world, as_user, name):
    form = CREATES[name](world)
    client = as_user(form.user)
    before = form.count()
    first = _post(client, form, {})
    second = _post(client, form, {})
    assert first.status_code < 400
    assert second.status_code < 500
    if form.unique:
        # The repeat is refused on its form with the reason; nothing more was created.
        assert second.status_code == 422
        assert "already" in second.content.decode() or "exist" in second.content.decode()
        assert form.count() == before + 1


def test_user_create_twice_creates_one_user_the_second_told_the_name_is_taken(world, as_user):
    client = as_user(world.admin_a)
    data = {"username": "double_click", "name": "双击用户"}
    first = client.post(reverse("crm:user-create"), data)
    second = client.post(reverse("crm:user-create"), data)
    assert first.status_code == 200  # the page showing the generated password once
    assert second.status_code == 422
    assert "This username is already taken." in second.content.decode()
    with scopes_disabled():
        assert User.objects.filter(username__iexact="double_click").count() == 1
    # No one-time token: the answer (the password in clear) is never kept for a replay.
    assert not hasattr(resolve(reverse("crm:user-create")).func, "once_vary")
    assert not hasattr(resolve(reverse("crm:user-reset-password", args=[1])).func, "once_vary")
    assert idempotency.FIELD not in client.get(reverse("crm:user-create")).content.decode()


def test_reset_twice_resets_twice_and_the_newer_password_holds(world, as_user):
    client = as_user(world.admin_a)
    url = reverse("crm:user-reset-password", args=[world.rep_east.pk])
    passwords = []
    for _ in range(2):
        response = client.post(url)
        assert response.status_code == 200
        passwords.append(response.context["password"])
    assert passwords[0] != passwords[1]
    with scopes_disabled():
        user = User.objects.get(pk=world.rep_east.pk)
    assert user.check_password(passwords[1]) and not user.check_password(passwords[0])


def test_a_repeated_import_submission_is_sent_to_the_first_job(world, as_user):
    form = _customer_import(world)
    client = as_user(form.user)
    token = {idempotency.FIELD: idempotency.new_token()}
    first, second = _post(client, form, token), _post(client, form, token)
    with scopes_disabled():
        job = ImportJob.objects.get(tenant=world.tenant_a)
    assert first["Location"] == second["Location"] == reverse("crm:import-detail", args=[job.pk])


def test_a_large_export_clicked_twice_queues_one_job(world, as_user, settings):
    settings.EXPORT_SYNC_ROWS = 0  # every export goes to the worker
    make_customer(world.tenant_a, world.admin_a, "大导出客户")
    client = as_user(world.admin_a)
    token = {idempotency.FIELD: idempotency.new_token()}
    url = reverse("customers:customer-export")
    answers = [client.post(url, token) for _ in range(2)]
    assert [(a.status_code, a["Location"]) for a in answers] == [
        (302, reverse("crm:export-list"))
    ] * 2
    assert _count(ExportJob, tenant=world.tenant_a)() == 1


def test_export_selected_with_other_rows_is_another_export(world, as_user):
    """The list's batch form keeps its token while other rows are ticked (the download
    does not leave the page): the ticked rows join the token's key."""
    a = make_customer(world.tenant_a, world.admin_a, "甲导出")
    b = make_customer(world.tenant_a, world.admin_a, "乙导出")
    client = as_user(world.admin_a)
    url = reverse("customers:customer-export")
    token = idempotency.new_token()
    for ids in ([a.pk], [a.pk], [b.pk]):
        response = client.post(url, {"rows": "selected", "ids": ids, idempotency.FIELD: token})
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
    assert _count(ExportJob, tenant=world.tenant_a)() == 2


def test_the_same_token_with_other_filters_is_another_export(world, as_user):
    """The 导出 form carries the list's filters in its action's query string: the token's
    key holds the full URL."""
    make_customer(world.tenant_a, world.admin_a, "甲导出")
    client = as_user(world.admin_a)
    url = reverse("customers:customer-export")
    token = {idempotency.FIELD: idempotency.new_token()}
    for query in ("?q=甲", "?q=甲", "?q=乙"):
        assert client.post(url + query, token).status_code == 200
    assert _count(ExportJob, tenant=world.tenant_a)() == 2


def test_a_download_is_kept_briefly_and_a_huge_answer_not_at_all(world, as_user, monkeypatch):
    kept = {}
    real_set = idempotency.cache.set

    def spy(key, value, timeout=None):
        kept[key] = timeout
        return real_set(key, value, timeout)

    monkeypatch.setattr(idempotency.cache, "set", spy)
    make_customer(world.tenant_a, world.admin_a, "导出客户")
    client = as_user(world.admin_a)
    url = reverse("customers:customer-export")
    client.post(url, {idempotency.FIELD: idempotency.new_token()})
    assert list(kept.values()) == [idempotency.DOWNLOAD_SECONDS]
    monkeypatch.setattr(idempotency, "MAX_KEPT_BYTES", 10)
    token = {idempotency.FIELD: idempotency.new_token()}
    client.post(url, token)
    client.post(url, token)  # not kept: built again
    assert len(kept) == 1
    assert _count(ExportJob, tenant=world.tenant_a)() == 3


def test_adding_the_same_participant_twice_changes_and_logs_nothing_more(world, as_user):
    form = _participants(world)
    client = as_user(form.user)
    for _ in range(2):
        response = _post(client, form, {})
        assert response.status_code == 302
        assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert form.count() == 1
    with scopes_disabled():
        logs = ActivityLog.objects.filter(action__icontains="participant").count()
    assert logs == 1


def test_converting_twice_without_a_token_says_it_is_converted(world, as_user):
    form = _convert(world)
    client = as_user(form.user)
    _post(client, form, {})
    again = _post(client, form, {})
    assert again.status_code == 422
    assert "is already converted" in again.content.decode()
    assert form.count() == 1


# ---------------------------------------------------------------- at the same moment (PostgreSQL)

THREADS = 3
AT_ONCE = (
    "crm:role-create",
    "crm:option-list",
    "customers:import-start",
    "customers:customer-export",
    "customers:customer-participants",
    "leads:lead-convert",
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", AT_ONCE)
def test_simultaneous_posts_of_one_form_create_once_and_answer_alike(world, name):
    form = CREATES[name](world)
    before = form.count()
    token = {idempotency.FIELD: idempotency.new_token()}
    clients = []
    for _ in range(THREADS):
        client = Client()
        assert client.login(username=form.user.username, password=PASSWORD)
        clients.append(client)
    answers, lock = [], threading.Lock()

    def post(client):
        def run():
            response = _post(client, form, token)
            with lock:
                answers.append(_answer(response))
            connection.close()

        return run

    assert _run_threads([post(c) for c in clients]) == []
    assert form.count() == before + 1
    assert len(answers) == THREADS and len(set(answers)) == 1, answers
    assert answers[0][0] < 400
