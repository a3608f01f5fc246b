"""Product catalogue services (products helper): categories (create, rename, move with the
subtree's paths in one UPDATE, the four-level limit, delete refused while used), products
(create, update, 上架 / 下架, stock with its log, delete refused while referenced), images,
and the catalogue selectors (tree, "this category and below", picker search, last sold
price and its registry)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog
from opportunities import catalogue, hooks
from opportunities.models import (
    Opportunity,
    Product,
    ProductCategory,
    ProductImage,
    ProductStockChange,
)
from opportunities.services import products as services
from tests.customers.factories import make_customer
from tests.opportunities.factories import (
    end_stage,
    make_category,
    make_opportunity,
    make_product,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _fresh(obj):
    with scopes_disabled():
        return type(obj).objects.get(pk=obj.pk)


def _logs(obj, action):
    with scopes_disabled():
        return list(
            ActivityLog.objects.filter(
                tenant_id=obj.tenant_id, object_id=obj.pk, action=action
            ).order_by("id")
        )


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin(world, scoped):
    with scoped(world.admin_a):
        yield world.admin_a


def _chain(admin, *names):
    parent = None
    for name in names:
        parent = services.category_create(actor=admin, name=name, parent=parent)
    return parent


# ---------------------------------------------------------------- categories


def test_category_create_sets_level_and_path(admin):
    forklift = services.category_create(actor=admin, name="叉车")
    electric = services.category_create(actor=admin, name=" 电动叉车 ", parent=forklift)
    assert (forklift.level, forklift.path) == (1, f"/{forklift.pk}/")
    assert electric.name == "电动叉车"
    assert (electric.level, electric.path) == (2, f"/{forklift.pk}/{electric.pk}/")
    assert _fresh(electric).path == electric.path
    assert len(_logs(electric, "product_category.created")) == 1


def test_category_create_refused_below_the_fourth_level(admin):
    fourth = _chain(admin, "一", "二", "三", "四")
    assert fourth.level == 4
    with pytest.raises(ServiceError) as exc:
        services.category_create(actor=admin, name="五", parent=fourth)
    assert exc.value.code == "too_deep"
    assert not ProductCategory.objects.filter(name="五").exists()


def test_category_names_are_unique_among_siblings_only(admin):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="配件")
    services.category_create(actor=admin, name="电动", parent=a)
    services.category_create(actor=admin, name="电动", parent=b)  # another parent: fine
    with pytest.raises(ServiceError) as exc:
        services.category_create(actor=admin, name="电动", parent=a)
    assert exc.value.code == "duplicate"
    with pytest.raises(ServiceError) as exc:
        services.category_create(actor=admin, name="叉车")
    assert exc.value.code == "duplicate"
    with pytest.raises(ServiceError) as exc:
        services.category_create(actor=admin, name="a/b")
    assert exc.value.code == "slash"


def test_category_rename_and_refusal(admin):
    a = services.category_create(actor=admin, name="叉车")
    services.category_create(actor=admin, name="配件")
    services.category_update(actor=admin, category=a, name="整车", sort=3)
    assert (_fresh(a).name, _fresh(a).sort) == ("整车", 3)
    assert _logs(a, "product_category.renamed")[0].changes["name"] == ["叉车", "整车"]
    with pytest.raises(ServiceError) as exc:
        services.category_update(actor=admin, category=a, name="配件")
    assert exc.value.code == "duplicate"


def test_category_move_rewrites_the_subtree(admin):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="电动叉车", parent=a)
    c = services.category_create(actor=admin, name="三支点", parent=b)
    other = services.category_create(actor=admin, name="仓储设备")
    services.category_move(actor=admin, category=b, parent=other)
    b, c = _fresh(b), _fresh(c)
    assert b.parent_id == other.pk
    assert (b.level, b.path) == (2, f"/{other.pk}/{b.pk}/")
    assert (c.level, c.path) == (3, f"/{other.pk}/{b.pk}/{c.pk}/")
    assert _fresh(a).path == f"/{a.pk}/"
    # To the first level.
    services.category_move(actor=admin, category=b, parent=None)
    assert (_fresh(b).level, _fresh(b).path) == (1, f"/{b.pk}/")
    assert (_fresh(c).level, _fresh(c).path) == (2, f"/{b.pk}/{c.pk}/")
    assert _logs(b, "product_category.moved")[0].changes["parent"] == ["叉车", "仓储设备"]


def test_category_move_rewrites_paths_in_one_update(admin, django_assert_max_num_queries):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="电动叉车", parent=a)
    for i in range(5):
        services.category_create(actor=admin, name=f"型号{i}", parent=b)
    other = services.category_create(actor=admin, name="仓储设备")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        services.category_move(actor=admin, category=b, parent=other)
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    # One UPDATE for the node's parent, one for the paths of the whole subtree.
    assert len(updates) == 2
    assert all(
        c.path.startswith(f"/{other.pk}/{b.pk}/") for c in ProductCategory.objects.filter(parent=b)
    )


def test_category_move_refused_when_the_subtree_would_be_too_deep(admin):
    a = _chain(admin, "一", "二")
    deep = services.category_create(actor=admin, name="子", parent=a)
    services.category_create(actor=admin, name="孙", parent=deep)  # deep's subtree: 2 levels
    target = _chain(admin, "甲", "乙", "丙")  # level 3: deep would be 4, its child 5
    with pytest.raises(ServiceError) as exc:
        services.category_move(actor=admin, category=deep, parent=target)
    assert exc.value.code == "too_deep"
    assert _fresh(deep).parent_id == a.pk
    assert _fresh(deep).level == 3


def test_category_move_refused_into_its_own_subtree(admin):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="电动叉车", parent=a)
    for target in (a, b):
        with pytest.raises(ServiceError) as exc:
            services.category_move(actor=admin, category=a, parent=target)
        assert exc.value.code == "cycle"


def test_category_delete_refused_with_children_or_products(admin, world):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="电动叉车", parent=a)
    with pytest.raises(ServiceError) as exc:
        services.category_delete(actor=admin, category=a)
    assert exc.value.code == "has_children"
    make_product(world.tenant_a, "XT", category=b)
    with pytest.raises(ServiceError) as exc:
        services.category_delete(actor=admin, category=b)
    assert exc.value.code == "has_products"
    empty = services.category_create(actor=admin, name="配件")
    services.category_delete(actor=admin, category=empty)
    assert not ProductCategory.objects.filter(pk=empty.pk).exists()


def test_category_services_need_product_manage(world, scoped):
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError):
        services.category_create(actor=world.rep_east, name="叉车")


def test_another_tenants_category_is_not_found(world, scoped):
    theirs = make_category(world.tenant_b, "他们的")
    with scoped(world.admin_a):
        with pytest.raises(NotFoundError):
            services.category_create(actor=world.admin_a, name="子", parent=theirs)
        with pytest.raises(NotFoundError):
            services.category_delete(actor=world.admin_a, category=theirs)


def test_category_ensure_path_creates_missing_levels_and_refuses_five(admin):
    existing = services.category_create(actor=admin, name="叉车")
    leaf = services.category_ensure_path(actor=admin, names=["叉车", "电动叉车", "三支点"])
    assert leaf.level == 3 and leaf.parent.parent_id == existing.pk
    again = services.category_ensure_path(actor=admin, names=["叉车", "电动叉车", "三支点"])
    assert again.pk == leaf.pk
    with pytest.raises(ServiceError) as exc:
        services.category_ensure_path(actor=admin, names=["a", "b", "c", "d", "e"])
    assert exc.value.code == "too_deep"


# ---------------------------------------------------------------- selectors


def test_tree_is_one_query_in_tree_order(admin, world, django_assert_num_queries):
    a = services.category_create(actor=admin, name="叉车", sort=1)
    b = services.category_create(actor=admin, name="配件", sort=0)
    a1 = services.category_create(actor=admin, name="电动叉车", parent=a)
    b1 = services.category_create(actor=admin, name="轮胎", parent=b)
    with django_assert_num_queries(1):
        tree = catalogue.category_tree(tenant_id=world.tenant_a.pk)
    assert [(n.pk, n.depth) for n in tree] == [(b.pk, 0), (b1.pk, 1), (a.pk, 0), (a1.pk, 1)]


def test_category_and_below_is_one_indexed_query(admin, world, django_assert_num_queries):
    a = services.category_create(actor=admin, name="叉车")
    b = services.category_create(actor=admin, name="电动叉车", parent=a)
    c = services.category_create(actor=admin, name="三支点", parent=b)
    services.category_create(actor=admin, name="配件")
    with django_assert_num_queries(1):
        ids = set(catalogue.category_and_below(b).values_list("pk", flat=True))
    assert ids == {b.pk, c.pk}
    p1 = make_product(world.tenant_a, "甲", category=c)
    p2 = make_product(world.tenant_a, "乙", category=a)
    found = set(Product.objects.filter(catalogue.in_category_q(a)).values_list("pk", flat=True))
    assert found == {p1.pk, p2.pk}
    assert list(Product.objects.filter(catalogue.in_category_q(b))) == [p1]


def test_picker_search_finds_on_sale_by_code_name_or_spec(admin, world):
    cat = services.category_create(actor=admin, name="叉车")
    sub = services.category_create(actor=admin, name="电动叉车", parent=cat)
    other = services.category_create(actor=admin, name="配件")
    a = make_product(world.tenant_a, "XT系列叉车", category=sub, code="CPD30", spec="3吨")
    make_product(world.tenant_a, "旧款叉车", category=sub, code="OLD1", status="off_sale")
    b = make_product(world.tenant_a, "轮胎", category=other, code="TY-1", spec="实心")
    make_product(world.tenant_b, "XT系列叉车")  # another tenant's
    assert catalogue.picker_search(actor=admin, text="cpd30") == [a]
    assert catalogue.picker_search(actor=admin, text="3吨") == [a]
    assert catalogue.picker_search(actor=admin, text="叉车") == [a]  # on sale only
    assert catalogue.picker_search(actor=admin, text="实心") == [b]
    assert catalogue.picker_search(actor=admin, category=cat) == [a]
    assert catalogue.picker_search(actor=admin, text="轮胎", category=cat) == []


def test_last_sold_price_comes_from_the_latest_won_opportunity(admin, world):
    product = make_product(world.tenant_a, "XT", price="100")
    customer = make_customer(world.tenant_a, world.rep_east, "华东机械")
    other_customer = make_customer(world.tenant_a, world.rep_east, "别家")
    assert (
        catalogue.last_sold_price(
            tenant_id=world.tenant_a.pk, customer_id=customer.pk, product_id=product.pk
        )
        is None
    )
    old = make_opportunity(
        world.rep_east, customer, lines=[{"product": product, "qty": 1, "unit_price": "90"}]
    )
    new = make_opportunity(
        world.rep_east, customer, lines=[{"product": product, "qty": 2, "unit_price": "85"}]
    )
    open_one = make_opportunity(
        world.rep_east, customer, lines=[{"product": product, "qty": 1, "unit_price": "70"}]
    )
    make_opportunity(
        world.rep_east, other_customer, lines=[{"product": product, "qty": 1, "unit_price": "60"}]
    )
    won = end_stage(world.tenant_a, "won")
    with scopes_disabled():
        Opportunity.objects.filter(pk=old.pk).update(
            status="won", stage=won, closed_date=datetime.date(2026, 3, 1)
        )
        Opportunity.objects.filter(pk=new.pk).update(
            status="won", stage=won, closed_date=datetime.date(2026, 5, 1)
        )
    sold = catalogue.last_sold_price(
        tenant_id=world.tenant_a.pk, customer_id=customer.pk, product_id=product.pk
    )
    assert sold.price == Decimal("85.00")
    assert sold.on == datetime.date(2026, 5, 1)
    assert open_one.status == "open"


def test_price_sources_registry_takes_the_latest_day(admin, world, monkeypatch):
    product = make_product(world.tenant_a, "XT", price="100")
    customer = make_customer(world.tenant_a, world.rep_east)

    def orders(tenant_id, customer_id, product_ids):
        return {
            pk: catalogue.SoldPrice(Decimal("77"), datetime.date(2027, 1, 1), "订单")
            for pk in product_ids
        }

    monkeypatch.setattr(catalogue, "_PRICE_SOURCES", [*catalogue.price_sources()])
    catalogue.register_price_source(orders)
    sold = catalogue.last_sold_prices(
        tenant_id=world.tenant_a.pk, customer_id=customer.pk, product_ids=[product.pk]
    )
    assert sold[product.pk].price == Decimal("77") and sold[product.pk].source == "订单"


# ---------------------------------------------------------------- products


def _data(category, **extra):
    return {"name": "XT系列叉车", "category": category, "price": "128000", **extra}


def test_product_create_logs_opening_stock(admin):
    cat = services.category_create(actor=admin, name="叉车")
    product = services.product_create(
        actor=admin, data=_data(cat, code="CPD30", spec="3吨", stock="5")
    )
    assert (product.code, product.price, product.stock) == ("CPD30", Decimal("128000"), 5)
    assert product.status == Product.Status.ON_SALE and product.created_by == admin
    change = ProductStockChange.objects.get(product=product)
    assert (change.old, change.new, change.changed_by) == (0, 5, admin)
    assert len(_logs(product, "product.created")) == 1


def test_product_create_refusals(admin, world):
    cat = services.category_create(actor=admin, name="叉车")
    services.product_create(actor=admin, data=_data(cat, code="CPD30"))
    cases = [
        (_data(cat, code="CPD30"), "duplicate_code"),
        (_data(cat, name=" "), "required"),
        (_data(None), "category"),
        (_data(cat, price="-1"), "price"),
        (_data(cat, price="abc"), "price"),
        (_data(cat, stock="-2"), "stock"),
        (_data(cat, maintenance_interval_days=0), "interval"),
        (_data(make_category(world.tenant_b, "他们的")), "category"),
    ]
    for data, code in cases:
        with pytest.raises((ServiceError, NotFoundError)) as exc:
            services.product_create(actor=admin, data=data)
        assert exc.value.code in (code, "not_found"), (data, exc.value.code)
    # Two products without a code are fine.
    services.product_create(actor=admin, data=_data(cat))
    services.product_create(actor=admin, data=_data(cat))
    assert Product.objects.filter(code="").count() == 2


def test_product_update_logs_the_changed_fields(admin):
    cat = services.category_create(actor=admin, name="叉车")
    product = services.product_create(actor=admin, data=_data(cat, stock="1"))
    services.product_update(actor=admin, product=product, data={"price": "99", "spec": "2吨"})
    product = _fresh(product)
    assert (product.price, product.spec, product.stock) == (Decimal("99"), "2吨", 1)
    changes = _logs(product, "product.updated")[0].changes
    assert set(changes) == {"price", "spec"}


def test_product_status_set_as_a_batch_all_or_nothing(admin, world):
    cat = services.category_create(actor=admin, name="叉车")
    a = make_product(world.tenant_a, "甲", category=cat)
    b = make_product(world.tenant_a, "乙", category=cat, status="off_sale")
    theirs = make_product(world.tenant_b, "丙")
    with pytest.raises(ServiceError) as exc:
        services.product_status_set(actor=admin, products=[a.pk, theirs.pk], status="off_sale")
    assert exc.value.code == "not_visible"
    assert _fresh(a).status == "on_sale"
    services.product_status_set(actor=admin, products=[a, b], status="off_sale")
    assert {_fresh(a).status, _fresh(b).status} == {"off_sale"}
    assert _logs(a, "product.status")[0].changes["status"] == [
        str(Product.Status.ON_SALE.label),
        str(Product.Status.OFF_SALE.label),
    ]
    assert _logs(b, "product.status") == []  # already off sale: nothing to log


def test_stock_set_logs_old_and_new(admin):
    cat = services.category_create(actor=admin, name="叉车")
    product = services.product_create(actor=admin, data=_data(cat, stock="5"))
    services.product_stock_set(actor=admin, product=product, stock="3", note="盘点")
    services.product_stock_set(actor=admin, product=product, stock="3")  # same: no entry
    assert _fresh(product).stock == 3
    last = ProductStockChange.objects.filter(product=product).order_by("-id").first()
    assert (last.old, last.new, last.note, last.reason) == (5, 3, "盘点", "edit")
    assert ProductStockChange.objects.filter(product=product).count() == 2
    entry = _logs(product, "product.stock")[-1]
    assert entry.changes["stock"] == ["5", "3"] and entry.changes["note"] == ["", "盘点"]
    with pytest.raises(ServiceError) as exc:
        services.product_stock_set(actor=admin, product=product, stock="-1")
    assert exc.value.code == "stock"


def test_product_delete_refused_while_a_line_references_it(admin, world):
    product = make_product(world.tenant_a, "XT")
    customer = make_customer(world.tenant_a, world.rep_east)
    make_opportunity(
        world.rep_east, customer, lines=[{"product": product, "qty": 1, "unit_price": "90"}]
    )
    with pytest.raises(ServiceError) as exc:
        services.product_delete(actor=admin, product=product)
    assert exc.value.code == "in_use"
    assert "下架" in str(exc.value.message) or "off sale" in str(exc.value.message)
    assert Product.objects.filter(pk=product.pk).exists()


def test_product_delete_refused_by_a_registered_reference(admin, world):
    product = make_product(world.tenant_a, "XT")

    def orders(p):
        return "2 条订单明细" if p.pk == product.pk else None

    hooks.register_product_reference(orders)
    try:
        with pytest.raises(ServiceError) as exc:
            services.product_delete(actor=admin, product=product)
    finally:
        hooks.unregister_product_reference(orders)
    assert "2 条订单明细" in str(exc.value.message)
    services.product_delete(actor=admin, product=product)
    assert not Product.objects.filter(pk=product.pk).exists()
    assert len(_logs(product, "product.deleted")) == 1


def test_images_are_checked_by_content(admin, world):
    product = make_product(world.tenant_a, "XT")
    image = services.product_image_add(
        actor=admin, product=product, upload=SimpleUploadedFile("照片.exe", PNG)
    )
    assert image.file.name.endswith(".png")
    assert f"tenants/{world.tenant_a.pk}/products/{product.pk}/" in image.file.name
    with pytest.raises(ServiceError) as exc:
        services.product_image_add(
            actor=admin, product=product, upload=SimpleUploadedFile("a.png", b"<svg></svg>")
        )
    assert exc.value.code == "type"
    services.product_image_delete(actor=admin, image=image)
    assert not ProductImage.objects.filter(pk=image.pk).exists()
