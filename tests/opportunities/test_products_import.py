"""The catalogue import on django-import-export (products helper): the dry run writes
nothing, a bad row gives an error file and nothing is imported, category paths are created
on the fly (at most four levels), an existing code updates its product, the template and
the pages (upload → preview → confirm), and the catalogue export."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled
from openpyxl import Workbook, load_workbook

from crm.models import ActivityLog
from opportunities import importing
from opportunities.models import Product, ProductCategory, ProductStockChange
from tests.opportunities.factories import make_category, make_product

HEADERS = [
    "产品编码",
    "产品名称",
    "产品分类",
    "规格",
    "品牌",
    "单位",
    "标准价格",
    "库存",
    "是否车辆",
    "保养周期(天)",
    "状态",
    "描述",
]


def _xlsx(rows, headers=HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


GOOD = [
    [
        "CPD30",
        "XT系列电动叉车",
        "叉车/电动叉车/三支点",
        "3吨",
        "杭叉",
        "台",
        "128000",
        "5",
        "是",
        "90",
        "上架",
        "锂电",
    ],
    ["", "轮胎", "配件", "", "", "个", "1,200", "", "否", "", "", ""],
]


def _products(tenant):
    with scopes_disabled():
        return list(Product.objects.filter(tenant=tenant).order_by("id"))


def _categories(tenant):
    with scopes_disabled():
        return {c.name: c for c in ProductCategory.objects.filter(tenant=tenant)}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin(world, scoped):
    with scoped(world.admin_a):
        yield world.admin_a


def test_dry_run_writes_nothing(admin, world):
    outcome = importing.import_check(actor=admin, data=_xlsx(GOOD), file_name="产品.xlsx")
    assert outcome.ok and (outcome.total, outcome.new, outcome.updated) == (2, 2, 0)
    assert [(r.row, r.kind, r.name) for r in outcome.rows] == [
        (2, "new", "XT系列电动叉车"),
        (3, "new", "轮胎"),
    ]
    assert outcome.rows[0].category == "叉车/电动叉车/三支点"
    assert _products(world.tenant_a) == [] and _categories(world.tenant_a) == {}
    with scopes_disabled():
        assert not ActivityLog.objects.filter(tenant=world.tenant_a).exists()


def test_apply_creates_products_and_category_paths(admin, world):
    make_category(world.tenant_a, "叉车")
    outcome = importing.import_apply(actor=admin, data=_xlsx(GOOD), file_name="产品.xlsx")
    assert outcome.ok and outcome.new == 2
    xt, tyre = _products(world.tenant_a)
    cats = _categories(world.tenant_a)
    assert set(cats) == {"叉车", "电动叉车", "三支点", "配件"}
    leaf = cats["三支点"]
    assert (leaf.level, leaf.parent_id) == (3, cats["电动叉车"].pk)
    assert leaf.path == f"/{cats['叉车'].pk}/{cats['电动叉车'].pk}/{leaf.pk}/"
    assert xt.category_id == leaf.pk and tyre.category_id == cats["配件"].pk
    assert (xt.code, xt.spec, xt.brand, xt.unit) == ("CPD30", "3吨", "杭叉", "台")
    assert (xt.price, xt.stock, xt.is_vehicle, xt.maintenance_interval_days) == (
        Decimal("128000"),
        Decimal(5),
        True,
        90,
    )
    assert tyre.price == Decimal("1200") and tyre.status == "on_sale" and not tyre.is_vehicle
    assert xt.created_by == admin
    with scopes_disabled():
        change = ProductStockChange.objects.get(product=xt)
        assert (change.old, change.new) == (0, 5)
        assert ActivityLog.objects.filter(object_id=xt.pk, action="product.imported").count() == 1


def test_existing_code_updates_that_product(admin, world):
    cat = make_category(world.tenant_a, "叉车")
    product = make_product(world.tenant_a, "旧名", category=cat, code="CPD30", spec="2吨")
    data = _xlsx([["CPD30", "新名", "", "", "", "", "99", "", "", "", "下架", ""]])
    check = importing.import_check(actor=admin, data=data, file_name="x.xlsx")
    assert (check.new, check.updated) == (0, 1)
    outcome = importing.import_apply(actor=admin, data=data, file_name="x.xlsx")
    assert outcome.ok
    [updated] = _products(world.tenant_a)
    assert updated.pk == product.pk
    assert (updated.name, updated.price, updated.status) == ("新名", Decimal("99"), "off_sale")
    # Empty cells leave the product's values.
    assert (updated.spec, updated.category_id) == ("2吨", cat.pk)


def test_a_bad_row_imports_nothing_and_goes_to_the_error_file(admin, world):
    rows = [
        *GOOD,
        ["X1", "太深", "a/b/c/d/e", "", "", "", "10", "", "", "", "", ""],
        ["X2", "", "配件", "", "", "", "10", "", "", "", "", ""],
        ["X3", "价格错", "配件", "", "", "", "abc", "", "", "", "", ""],
        ["CPD30", "重复编码", "配件", "", "", "", "10", "", "", "", "", ""],
    ]
    data = _xlsx(rows)
    check = importing.import_check(actor=admin, data=data, file_name="产品.xlsx")
    assert not check.ok
    assert [e.row for e in check.errors] == [4, 5, 6, 7]
    assert "5" in check.errors[0].message and "4" in check.errors[0].message
    assert "产品名称" in check.errors[1].message or "name" in check.errors[1].message.lower()
    assert "标准价格" in check.errors[2].message
    assert "2" in check.errors[3].message  # the row the code is already on
    outcome = importing.import_apply(actor=admin, data=data, file_name="产品.xlsx")
    assert not outcome.ok
    assert _products(world.tenant_a) == [] and _categories(world.tenant_a) == {}
    report = load_workbook(
        io.BytesIO(importing.error_report(data=data, file_name="产品.xlsx", outcome=check))
    ).active
    values = list(report.values)
    assert values[0][-1] == "错误原因" and values[0][:3] == tuple(HEADERS[:3])
    assert [row[1] for row in values[1:]] == ["太深", None, "价格错", "重复编码"]
    assert all(row[-1] for row in values[1:])


def test_a_file_without_product_columns_is_refused(admin):
    outcome = importing.import_check(
        actor=admin, data=_xlsx([["a", "b"]], headers=["客户", "电话"]), file_name="x.xlsx"
    )
    assert outcome.file_errors and not outcome.total


def test_template_has_the_header_row_and_an_example(world, as_user):
    response = as_user(world.admin_a).get(reverse("opportunities:product-import-template"))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    rows = list(book.worksheets[0].values)
    assert [h.rstrip("*") for h in rows[0]] == [c[1] for c in importing.COLUMNS]
    assert rows[0][1] == "产品名称*" and rows[1][2] == "叉车/电动叉车/三支点"
    assert len(book.worksheets) == 2


def test_import_pages_upload_preview_confirm(world, as_user):
    client = as_user(world.admin_a)
    start = client.get(reverse("opportunities:product-import"))
    assert start.status_code == 200
    upload = io.BytesIO(_xlsx(GOOD))
    upload.name = "产品.xlsx"
    response = client.post(reverse("opportunities:product-import"), {"file": upload})
    assert response.status_code == 302
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    assert preview.context["outcome"].new == 2
    assert _products(world.tenant_a) == []
    key = preview.context["key"]
    # Another user (even an admin of the tenant) cannot open it.
    other = as_user(world.manager_sales)
    assert other.get(response["Location"]).status_code in (403, 404)
    done = client.post(reverse("opportunities:product-import-confirm", args=[key]))
    assert done.status_code == 302
    assert len(_products(world.tenant_a)) == 2
    # The waiting file is gone: a second confirmation finds nothing.
    again = client.post(reverse("opportunities:product-import-confirm", args=[key]))
    assert again.status_code == 404
    assert len(_products(world.tenant_a)) == 2


def test_import_pages_error_file(world, as_user):
    client = as_user(world.admin_a)
    upload = io.BytesIO(_xlsx([*GOOD, ["X", "", "配件", "", "", "", "1", "", "", "", "", ""]]))
    upload.name = "产品.xlsx"
    response = client.post(reverse("opportunities:product-import"), {"file": upload})
    preview = client.get(response["Location"])
    assert len(preview.context["outcome"].errors) == 1
    key = preview.context["key"]
    errors = client.get(reverse("opportunities:product-import-errors", args=[key]))
    assert errors.status_code == 200
    rows = list(load_workbook(io.BytesIO(errors.content)).active.values)
    assert len(rows) == 2 and rows[1][0] == "X"
    refused = client.post(reverse("opportunities:product-import-confirm", args=[key]))
    assert refused.status_code == 422
    assert _products(world.tenant_a) == []


def test_import_needs_the_right(world, as_user):
    rep = as_user(world.rep_east)
    assert rep.get(reverse("opportunities:product-import")).status_code == 403
    assert rep.get(reverse("opportunities:product-import-template")).status_code == 403


def test_export_has_the_import_columns(world, as_user):
    cat = make_category(world.tenant_a, "叉车")
    sub = make_category(world.tenant_a, "电动叉车", cat)
    make_product(world.tenant_a, "XT", category=sub, code="CPD30", spec="3吨", is_vehicle=True)
    make_product(world.tenant_a, "旧款", category=sub, status="off_sale")
    make_product(world.tenant_b, "别家的")
    client = as_user(world.admin_a)
    url = reverse("opportunities:product-export")
    response = client.post(url + "?status=on_sale")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.values)
    assert list(rows[0]) == [c[1] for c in importing.COLUMNS]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["产品编码"], row["产品名称"], row["产品分类"], row["是否车辆"], row["状态"]) == (
        "CPD30",
        "XT",
        "叉车/电动叉车",
        "是",
        "上架",
    )
    # An export starts with a POST only.
    assert client.get(url).status_code == 405
    assert as_user(world.rep_east).post(url).status_code == 403


def test_export_then_import_round_trip_updates_by_code(world, as_user, scoped):
    cat = make_category(world.tenant_a, "叉车")
    make_product(world.tenant_a, "XT", category=cat, code="CPD30", price="10")
    client = as_user(world.admin_a)
    exported = client.post(reverse("opportunities:product-export")).content
    with scoped(world.admin_a):
        outcome = importing.import_apply(actor=world.admin_a, data=exported, file_name="e.xlsx")
    assert outcome.ok and (outcome.new, outcome.updated) == (0, 1)


def test_waiting_files_are_purged_after_a_day(admin, world):
    import datetime
    from unittest import mock

    from django.utils import timezone

    key = importing.pending_save(
        actor=admin, data=_xlsx(GOOD), file_name="a.xlsx", outcome=importing.Outcome()
    )
    assert importing.pending_purge(tenant_id=world.tenant_a.pk) == 0
    later = timezone.now() + datetime.timedelta(hours=25)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert importing.pending_purge(tenant_id=world.tenant_a.pk) == 2
    from django.http import Http404

    with pytest.raises(Http404):
        importing.pending_read(actor=admin, key=key)


def test_a_double_click_on_confirm_imports_once(world, as_user):
    client = as_user(world.admin_a)
    upload = io.BytesIO(_xlsx(GOOD))
    upload.name = "产品.xlsx"
    preview = client.get(
        client.post(reverse("opportunities:product-import"), {"file": upload})["Location"]
    )
    token = re.search(r'name="once_token" value="([^"]+)"', preview.content.decode()).group(1)
    url = reverse("opportunities:product-import-confirm", args=[preview.context["key"]])
    first = client.post(url, {"once_token": token})
    second = client.post(url, {"once_token": token})
    assert first.status_code == second.status_code == 302
    assert len(_products(world.tenant_a)) == 2


def test_the_nightly_task_purges_every_tenants_waiting_files(admin, world, settings):
    import datetime
    from unittest import mock

    from django.utils import timezone

    from opportunities.tasks import product_import_purge_all_task

    assert "product-import-purge" in settings.CELERY_BEAT_SCHEDULE
    importing.pending_save(
        actor=admin, data=_xlsx(GOOD), file_name="a.xlsx", outcome=importing.Outcome()
    )
    later = timezone.now() + datetime.timedelta(hours=25)
    with mock.patch("django.utils.timezone.now", return_value=later):
        product_import_purge_all_task()
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert importing.pending_purge(tenant_id=world.tenant_a.pk) == 0  # nothing left
