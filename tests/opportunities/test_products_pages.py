"""The product pages (products helper): every user of the tenant sees the catalogue, changing
it takes product.manage, another tenant's product is a 404; the list pattern (search,
category and below, status chips, sorts, batch 上架 / 下架, a fixed number of queries at 20
and 100 a page); create with images, edit, stock, delete refused while referenced;
category management with its refusals; the picker (search, tree, last sold price)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_scopes import scopes_disabled

from opportunities.models import (
    Opportunity,
    Product,
    ProductCategory,
    ProductImage,
    ProductStockChange,
)
from tests.customers.factories import make_customer
from tests.opportunities.factories import (
    end_stage,
    make_category,
    make_opportunity,
    make_product,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _get(obj):
    with scopes_disabled():
        return type(obj).objects.filter(pk=obj.pk).first()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def catalogue(world):
    forklift = make_category(world.tenant_a, "叉车")
    electric = make_category(world.tenant_a, "电动叉车", forklift)
    parts = make_category(world.tenant_a, "配件")
    return {
        "forklift": forklift,
        "electric": electric,
        "parts": parts,
        "xt": make_product(
            world.tenant_a, "XT系列叉车", category=electric, code="CPD30", spec="3吨"
        ),
        "old": make_product(world.tenant_a, "旧款叉车", category=forklift, status="off_sale"),
        "tyre": make_product(world.tenant_a, "轮胎", category=parts, code="TY-1", spec="实心"),
    }


def _ids(response):
    return [p.pk for p in response.context["page"]]


# ---------------------------------------------------------------- who sees what


def test_every_user_sees_the_catalogue(world, as_user, catalogue):
    rep = as_user(world.rep_east)
    response = rep.get(reverse("opportunities:product-list"))
    assert response.status_code == 200
    assert set(_ids(response)) == {catalogue[k].pk for k in ("xt", "old", "tyre")}
    assert not response.context["may_manage"]
    detail = rep.get(reverse("opportunities:product-detail", args=[catalogue["xt"].pk]))
    assert detail.status_code == 200 and "CPD30" in detail.content.decode()
    assert rep.get(reverse("opportunities:category-list")).status_code == 200


def test_editing_needs_product_manage(world, as_user, catalogue):
    rep = as_user(world.rep_east)
    pk = catalogue["xt"].pk
    for name, args in (
        ("product-create", []),
        ("product-edit", [pk]),
        ("product-stock", [pk]),
    ):
        assert rep.get(reverse(f"opportunities:{name}", args=args)).status_code == 403
    for name, args in (
        ("product-delete", [pk]),
        ("product-batch", []),
        ("category-delete", [catalogue["parts"].pk]),
        ("category-move", [catalogue["parts"].pk]),
        ("category-rename", [catalogue["parts"].pk]),
    ):
        assert rep.post(reverse(f"opportunities:{name}", args=args)).status_code == 403
    assert rep.post(reverse("opportunities:category-list"), {"name": "新"}).status_code == 403
    assert _get(catalogue["xt"]) is not None


def test_another_tenants_product_is_not_found(world, as_user):
    theirs = make_product(world.tenant_b, "别家的", code="B1")
    image = _image(world.tenant_b, theirs)
    category = _get(theirs).category
    admin = as_user(world.admin_a)
    for name in ("product-detail", "product-edit", "product-stock"):
        assert admin.get(reverse(f"opportunities:{name}", args=[theirs.pk])).status_code == 404
    assert admin.post(reverse("opportunities:product-delete", args=[theirs.pk])).status_code == 404
    assert admin.get(reverse("opportunities:product-image", args=[image.pk])).status_code == 404
    for name in ("category-delete", "category-rename", "category-move"):
        assert admin.post(reverse(f"opportunities:{name}", args=[category.pk])).status_code == 404
    picker = admin.get(reverse("opportunities:product-picker"), {"category": category.pk})
    assert picker.status_code == 404
    assert _get(theirs) is not None


def _image(tenant, product):
    from django.core.files.base import ContentFile

    with scopes_disabled():
        image = ProductImage(tenant=tenant, product=product)
        image.file.save("a.png", ContentFile(PNG), save=False)
        image.save()
        return image


def test_images_are_served_to_the_tenants_users(world, as_user, catalogue):
    image = _image(world.tenant_a, catalogue["xt"])
    response = as_user(world.rep_east).get(reverse("opportunities:product-image", args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG


# ---------------------------------------------------------------- the list


def test_search_category_and_below_and_status(world, as_user, catalogue):
    client = as_user(world.rep_east)
    url = reverse("opportunities:product-list")
    assert _ids(client.get(url, {"q": "cpd30"})) == [catalogue["xt"].pk]
    assert _ids(client.get(url, {"q": "实心"})) == [catalogue["tyre"].pk]
    below = client.get(url, {"category": catalogue["forklift"].pk})
    assert set(_ids(below)) == {catalogue["xt"].pk, catalogue["old"].pk}
    assert below.context["current_category"].pk == catalogue["forklift"].pk
    assert _ids(client.get(url, {"category": catalogue["electric"].pk})) == [catalogue["xt"].pk]
    on_sale = client.get(url, {"status": "on_sale"})
    assert set(_ids(on_sale)) == {catalogue["xt"].pk, catalogue["tyre"].pk}
    by_code = client.get(url, {"sort": "-code"})
    assert _ids(by_code)[0] == catalogue["tyre"].pk


# session, user, the categories (filter choices and tree: 2), the count, the page rows.
LIST_QUERIES = 7


@pytest.mark.parametrize("per", [20, 100])
def test_list_query_count_is_fixed(world, as_user, catalogue, per, django_assert_num_queries):
    for i in range(per + 5):
        make_product(world.tenant_a, f"批量{i}", category=catalogue["electric"], code=f"B{i}")
    client = as_user(world.admin_a)
    url = reverse("opportunities:product-list")
    client.get(url)  # the session's first read
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(
            url, {"per": per, "category": catalogue["forklift"].pk, "q": "批量", "sort": "-price"}
        )
    assert len(response.context["page"]) == per
    with django_assert_num_queries(LIST_QUERIES):
        client.get(url, {"per": per})


def test_batch_off_and_on_sale(world, as_user, catalogue):
    client = as_user(world.admin_a)
    ids = [catalogue["xt"].pk, catalogue["tyre"].pk]
    response = client.post(
        reverse("opportunities:product-batch"), {"ids": ids, "action": "off_sale"}
    )
    assert response.status_code == 302
    assert {_get(catalogue[k]).status for k in ("xt", "tyre")} == {"off_sale"}
    theirs = make_product(world.tenant_b, "别家的")
    client.post(
        reverse("opportunities:product-batch"),
        {"ids": [catalogue["xt"].pk, theirs.pk], "action": "on_sale"},
    )
    assert _get(catalogue["xt"]).status == "off_sale"  # all or nothing
    assert _get(theirs).status == "on_sale"


# ---------------------------------------------------------------- create, edit, stock, delete


def test_create_with_images_then_edit_and_stock(world, as_user, catalogue):
    client = as_user(world.admin_a)
    response = client.post(
        reverse("opportunities:product-create"),
        {
            "code": "NEW-1",
            "name": "新叉车",
            "category": catalogue["electric"].pk,
            "price": "5000",
            "stock": "2",
            "status": "on_sale",
            "images": [SimpleUploadedFile("a.png", PNG), SimpleUploadedFile("b.png", PNG)],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with scopes_disabled():
        product = Product.objects.get(code="NEW-1")
        assert product.images.count() == 2
        assert product.stock == 2
    edit = client.post(
        reverse("opportunities:product-edit", args=[product.pk]),
        {
            "code": "NEW-1",
            "name": "新叉车二代",
            "category": catalogue["parts"].pk,
            "price": "6000",
            "status": "off_sale",
        },
    )
    assert edit.status_code == 302
    product = _get(product)
    assert (product.name, product.category_id, product.status) == (
        "新叉车二代",
        catalogue["parts"].pk,
        "off_sale",
    )
    assert product.stock == 2  # not on the edit form
    stock = client.post(
        reverse("opportunities:product-stock", args=[product.pk]), {"stock": "7", "note": "盘点"}
    )
    assert stock.status_code == 302
    assert _get(product).stock == 7
    with scopes_disabled():
        assert ProductStockChange.objects.filter(product=product, old=2, new=7).exists()
    detail = client.get(reverse("opportunities:product-detail", args=[product.pk]))
    assert "盘点" in detail.content.decode()


def test_create_refusal_comes_back_on_the_form(world, as_user, catalogue):
    client = as_user(world.admin_a)
    response = client.post(
        reverse("opportunities:product-create"),
        {
            "code": "CPD30",
            "name": "重复",
            "category": catalogue["parts"].pk,
            "price": "1",
            "status": "on_sale",
        },
    )
    assert response.status_code == 422
    assert response.context["form"].non_field_errors()


def test_delete_refused_while_a_line_references_it(world, as_user, catalogue):
    customer = make_customer(world.tenant_a, world.rep_east)
    make_opportunity(
        world.rep_east,
        customer,
        lines=[{"product": catalogue["xt"], "qty": 1, "unit_price": "10"}],
    )
    client = as_user(world.admin_a)
    response = client.post(
        reverse("opportunities:product-delete", args=[catalogue["xt"].pk]), follow=True
    )
    assert _get(catalogue["xt"]) is not None
    message = " ".join(str(m) for m in response.context["messages"])
    assert "下架" in message or "off sale" in message
    client.post(reverse("opportunities:product-delete", args=[catalogue["tyre"].pk]))
    assert _get(catalogue["tyre"]) is None


# ---------------------------------------------------------------- categories


def test_category_page_adds_renames_moves_and_shows_refusals(world, as_user, catalogue):
    client = as_user(world.admin_a)
    page = client.get(reverse("opportunities:category-list"))
    assert [n.name for n in page.context["tree"]] == ["叉车", "电动叉车", "配件"]
    added = client.post(
        reverse("opportunities:category-list"),
        {"name": "三支点", "parent": catalogue["electric"].pk, "sort": "0"},
    )
    assert added.status_code == 302
    with scopes_disabled():
        leaf = ProductCategory.objects.get(name="三支点")
    assert leaf.level == 3
    client.post(reverse("opportunities:category-rename", args=[leaf.pk]), {"name": "四支点"})
    assert _get(leaf).name == "四支点"
    client.post(
        reverse("opportunities:category-move", args=[catalogue["electric"].pk]),
        {"parent": catalogue["parts"].pk},
    )
    assert _get(leaf).path.startswith(f"/{catalogue['parts'].pk}/{catalogue['electric'].pk}/")
    refused = client.post(
        reverse("opportunities:category-delete", args=[catalogue["parts"].pk]), follow=True
    )
    assert _get(catalogue["parts"]) is not None
    assert list(refused.context["messages"])
    duplicate = client.post(reverse("opportunities:category-list"), {"name": "配件", "parent": ""})
    assert duplicate.status_code == 422
    assert duplicate.context["form"].non_field_errors()


# ---------------------------------------------------------------- the picker


def test_picker_searches_on_sale_products(world, as_user, catalogue):
    client = as_user(world.rep_east)
    url = reverse("opportunities:product-picker")
    page = client.get(url, {"q": "叉车"})
    assert page.status_code == 200
    assert [p.pk for p in page.context["rows"]] == [catalogue["xt"].pk]
    fragment = client.get(url, {"q": "3吨", "part": "results"}, HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert 'role="listbox"' in html and f'data-product-id="{catalogue["xt"].pk}"' in html
    assert "<html" not in html
    widget = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "data-product-picker" in widget and 'name="category"' in widget
    below = client.get(url, {"category": catalogue["forklift"].pk})
    assert [p.pk for p in below.context["rows"]] == [catalogue["xt"].pk]


def test_picker_shows_the_customers_last_sold_price(world, as_user, catalogue):
    customer = make_customer(world.tenant_a, world.rep_east, "华东机械")
    won = make_opportunity(
        world.rep_east,
        customer,
        lines=[{"product": catalogue["xt"], "qty": 1, "unit_price": "118000"}],
    )
    with scopes_disabled():
        Opportunity.objects.filter(pk=won.pk).update(
            status="won",
            stage=end_stage(world.tenant_a, "won"),
            closed_date=datetime.date(2026, 6, 1),
        )
    client = as_user(world.rep_east)
    response = client.get(
        reverse("opportunities:product-picker"),
        {"customer": customer.pk, "part": "results"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'data-product-last-price="118000.00"' in html
    assert "2026-06-01" in html
    page = client.get(reverse("opportunities:product-picker"), {"customer": customer.pk})
    rows = {p.pk: p for p in page.context["rows"]}
    assert rows[catalogue["xt"].pk].last_sold.price == Decimal("118000")
    assert rows[catalogue["tyre"].pk].last_sold is None


def test_picker_refuses_a_customer_the_user_may_not_see(world, as_user, catalogue):
    hidden = make_customer(world.tenant_a, world.rep_west, "华西客户")
    client = as_user(world.rep_east)
    response = client.get(reverse("opportunities:product-picker"), {"customer": hidden.pk})
    assert response.status_code == 404


def test_manager_pages_render(world, as_user, catalogue):
    client = as_user(world.admin_a)
    pk = catalogue["xt"].pk
    for name, args in (
        ("product-create", []),
        ("product-edit", [pk]),
        ("product-stock", [pk]),
        ("category-list", []),
        ("product-import", []),
        ("product-picker", []),
    ):
        response = client.get(reverse(f"opportunities:{name}", args=args))
        assert response.status_code == 200, name
    html = client.get(reverse("opportunities:product-list")).content.decode()
    assert 'data-testid="batch-off-sale"' in html and 'data-testid="product-export"' in html
    rep_html = as_user(world.rep_east).get(reverse("opportunities:product-list")).content.decode()
    assert "batch-off-sale" not in rep_html and "product-export" not in rep_html
