"""Issue 16 §2: the phone's bottom bar of the customer and lead pages (打电话 · 写跟进 · 更多).

打电话 is a tel: link to the primary contact's number only when the masking layer shows it;
otherwise a disabled item without the number. The bar lives in the header partial, so it is
swapped out of band with it after every action. (Visibility at 390 px: tests/browser.)"""

from __future__ import annotations

import re

from django.urls import reverse

from tests.customers.factories import make_contact, make_customer
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, pooled

PHONE = "13912345678"


def _bar(html: str) -> str:
    start = html.index('<nav class="record-bar"')
    return html[start : html.index("</nav>", start)]


def test_customer_bar_calls_the_primary_contact_and_offers_the_page_actions(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "底栏客户")
    make_contact(customer, "王经理", mobile="139 1234 5678")
    html = as_user(world.rep_east).get(reverse("customers:customer-detail", args=[customer.pk]))
    bar = _bar(html.content.decode())
    assert f'<a class="record-bar-item" href="tel:{PHONE}" data-testid="record-bar-call">' in bar
    url = reverse("customers:customer-detail", args=[customer.pk])
    assert f'href="{url}?tab=followups#followup-form" data-write-followup' in bar
    # 更多: the header's forms submitted by id, the return modal opened by id.
    assert 'form="star-form"' in bar and 'form="lock-form"' in bar
    assert 'data-dialog-open="return-modal"' in bar
    page = html.content.decode()
    assert 'id="star-form"' in page and 'id="lock-form"' in page


def test_customer_bar_without_a_visible_number_has_no_call_link(world, as_user):
    group = make_group(world.tenant_a, "华东公海", departments=[world.east])
    customer = pooled(group, "池中底栏")
    make_contact(customer, "池联系人", mobile=PHONE)
    group.hidden_fields = ["contact_phones"]
    group.save()
    html = as_user(world.rep_east).get(reverse("customers:customer-detail", args=[customer.pk]))
    bar = _bar(html.content.decode())
    assert "tel:" not in bar and PHONE not in bar
    assert re.search(r'<span class="record-bar-item is-disabled" aria-disabled="true"', bar)
    # No contact at all: disabled as well.
    bare = make_customer(world.tenant_a, world.rep_east, "无联系人")
    html = as_user(world.rep_east).get(reverse("customers:customer-detail", args=[bare.pk]))
    assert "tel:" not in _bar(html.content.decode())


def test_lead_bar_calls_the_lead_and_hides_a_pooled_number(world, as_user):
    make_lead_pool(world.tenant_a, is_default=True)
    lead = make_lead(world.tenant_a, world.rep_east, mobile=PHONE)
    html = as_user(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk]))
    bar = _bar(html.content.decode())
    assert f'href="tel:{PHONE}" data-testid="record-bar-call"' in bar
    assert 'data-dialog-open="close-modal"' in bar
    assert 'data-dialog-open="lead-return-modal"' in bar

    group = make_lead_pool(world.tenant_a)
    hidden = make_pooled_lead(group, mobile="13700001111")
    group.hidden_fields = ["contact_phones"]
    group.save()
    page = as_user(world.rep_east).get(reverse("leads:lead-detail", args=[hidden.pk]))
    bar = _bar(page.content.decode())
    assert "tel:" not in bar and "13700001111" not in bar


def test_the_bar_travels_with_the_header_out_of_band(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "星标底栏")
    make_contact(customer, "王经理", mobile=PHONE)
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    response = as_user(world.rep_east).post(
        reverse("customers:customer-star", args=[customer.pk]),
        {"starred": "1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}",
    )
    html = response.content.decode()
    header = html[html.index('id="record-header"') :]
    assert 'data-testid="record-bar"' in header and f"tel:{PHONE}" in _bar(header)
    assert "Remove star" in _bar(header)
