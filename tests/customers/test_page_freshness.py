"""Issue 16 §4: the customer and lead pages stay true after every htmx action.

* a tab switch re-renders the tab bar out of band with the loaded tab selected;
* a follow-up, a claim or a return made from the page swaps its header out of band (last and
  next follow-up, pool countdown, owner), the claim and return with the open tab;
* success messages name what changed, linking the records the actor still sees (escaped);
* the header shows the primary contact, "today" / "yesterday" instead of "0 days ago", no raw
  coordinates; tel: / mailto: links for every visible phone and e-mail, never for a hidden one.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import OptionKind
from customers.models import Customer
from leads.models import Lead
from tests.customers.factories import make_contact, make_customer, option
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, owned, pooled, return_reason

PHONE = "13912345678"


def _reload(model, pk):
    with scopes_disabled():
        return model.objects.get(pk=pk)


def _oob(html: str, element_id: str) -> str:
    """The out-of-band element ``element_id`` of an htmx response (its opening tag to the
    start of the next top-level out-of-band element or the end)."""
    match = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*hx-swap-oob="true"[^>]*>', html)
    assert match, f"no out-of-band #{element_id} in the response"
    rest = html[match.start() :]
    following = re.search(r'<[a-z]+ [^>]*hx-swap-oob="true"', rest[len(match.group(0)) :])
    return rest if following is None else rest[: len(match.group(0)) + following.start()]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _local_input(dt: datetime.datetime) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def east_pool(world):
    """A self-claim group of the east department (rep_east, rep_east2); phones hidden."""
    return make_group(world.tenant_a, "华东公海", departments=[world.east])


# ---------------------------------------------------------------- tabs


def test_customer_tab_switch_selects_the_loaded_tab_out_of_band(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "标签客户")
    client = as_user(world.rep_east)
    response = client.get(
        reverse("customers:customer-tab", args=[customer.pk, "followups"]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    bar = _oob(response.content.decode(), "detail-tabs")
    assert re.search(r'aria-selected="true" class="active" data-tab="followups"', bar)
    assert re.search(r'aria-selected="false" class="" data-tab="overview"', bar)
    # The full page marks the tab of its URL (what back / forward and a reload land on).
    page = client.get(reverse("customers:customer-detail", args=[customer.pk]) + "?tab=contacts")
    assert re.search(
        r'aria-selected="true" class="active" data-tab="contacts"', page.content.decode()
    )


def test_lead_tab_switch_selects_the_loaded_tab_out_of_band(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).get(
        reverse("leads:lead-tab", args=[lead.pk, "activity"]), HTTP_HX_REQUEST="true"
    )
    bar = _oob(response.content.decode(), "detail-tabs")
    assert re.search(r'aria-selected="true" class="active" data-tab="activity"', bar)
    assert 'aria-selected="true" class="active" data-tab="overview"' not in bar


# ---------------------------------------------------------------- follow-ups


def test_followup_saved_with_htmx_swaps_the_customer_header(world, as_user):
    customer = make_customer(
        world.tenant_a,
        world.rep_east,
        "跟进客户",
        last_followup_at=timezone.now() - datetime.timedelta(days=9),
        created_at=timezone.now() - datetime.timedelta(days=30),
    )
    next_at = (timezone.now() + datetime.timedelta(days=3)).replace(second=0, microsecond=0)
    response = as_user(world.rep_east).post(
        reverse("customers:followup-create", args=[customer.pk]),
        {
            "kind": option(world.tenant_a, OptionKind.FOLLOWUP_TYPE).pk,
            "content": "电话确认需求",
            "next_followup_at": _local_input(next_at),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    header = _oob(html, "record-header")
    saved = _reload(Customer, customer.pk)
    assert timezone.localtime(next_at).strftime("%Y-%m-%d %H:%M") in header
    assert timezone.localtime(saved.last_followup_at).strftime("%Y-%m-%d %H:%M") in header
    assert "(today)" in header and "days ago" not in header
    # The tab bar comes along, on the follow-ups tab the form was posted from.
    assert 'aria-selected="true" class="active" data-tab="followups"' in _oob(html, "detail-tabs")


def test_followup_saved_with_htmx_swaps_the_lead_header(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    next_at = (timezone.now() + datetime.timedelta(days=2)).replace(second=0, microsecond=0)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-followup-add", args=[lead.pk]),
        {
            "kind": option(world.tenant_a, OptionKind.FOLLOWUP_TYPE).pk,
            "content": "加了微信",
            "next_followup_at": _local_input(next_at),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    header = _oob(response.content.decode(), "record-header")
    assert timezone.localtime(next_at).strftime("%Y-%m-%d %H:%M") in header
    assert "never" not in header  # the last follow-up is the one just saved


# ---------------------------------------------------------------- claim and return


def test_claim_from_the_customer_page_swaps_header_and_open_tab_and_names_it(
    world, as_user, east_pool
):
    customer = pooled(east_pool, "武汉宏图科技")
    make_contact(customer, "王经理", mobile=PHONE)
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    before = client.get(page_url + "?tab=contacts").content.decode()
    assert PHONE not in before and "tel:" not in before  # hidden while in the pool

    response = client.post(
        reverse("customers:pool-claim"),
        {"ids": [customer.pk], "next": page_url},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}?tab=contacts",
    )
    assert response.status_code == 200
    html = response.content.decode()
    header = _oob(html, "record-header")
    assert str(world.rep_east) in header and 'data-testid="claim"' not in header
    assert f'href="tel:{PHONE}"' in header  # the primary contact, now visible
    body = _oob(html, "tab-body")  # the open tab (contacts), no longer masked
    assert f'<a href="tel:{PHONE}">{PHONE}</a>' in body
    assert 'aria-selected="true" class="active" data-tab="contacts"' in _oob(html, "detail-tabs")
    messages = _oob(html, "messages")
    assert f'Claimed: <a href="{page_url}">武汉宏图科技</a>' in messages
    assert _reload(Customer, customer.pk).owner_id == world.rep_east.pk


def test_claim_message_names_five_then_counts_and_shows_the_daily_quota(world, as_user, east_pool):
    east_pool.daily_claim_limit = 20
    east_pool.save()
    rows = [pooled(east_pool, f"客户{i}") for i in range(7)]
    response = as_user(world.rep_east).post(
        reverse("customers:pool-claim"), {"ids": [c.pk for c in rows]}
    )
    assert response.status_code == 302
    [message] = _messages(response)
    links = re.findall(r'<a href="/customers/(\d+)/">(客户\d)</a>', message)
    assert [int(pk) for pk, _name in links] == [c.pk for c in rows[:5]]
    assert "7 in all" in message
    assert message.endswith("Claimed today 7/20")


def test_claim_message_escapes_names(world, as_user, east_pool):
    customer = pooled(east_pool, "<b>坏名字</b>")
    response = as_user(world.rep_east).post(reverse("customers:pool-claim"), {"ids": [customer.pk]})
    [message] = _messages(response)
    assert "&lt;b&gt;坏名字&lt;/b&gt;" in message and "<b>" not in message


def test_claim_message_renders_as_a_link_on_the_next_page(world, as_user, east_pool):
    customer = pooled(east_pool, "南宁远航")
    page = (
        as_user(world.rep_east)
        .post(reverse("customers:pool-claim"), {"ids": [customer.pk]}, follow=True)
        .content.decode()
    )
    url = reverse("customers:customer-detail", args=[customer.pk])
    assert re.search(
        rf'<div class="alert alert-success"[^>]*>Claimed: <a href="{url}">南宁远航</a>', page
    )


def test_return_from_the_customer_page_swaps_the_header(world, as_user, east_pool):
    customer = owned(east_pool, world.rep_east, "退回客户")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    response = as_user(world.rep_east).post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "reason": return_reason(world.tenant_a).pk, "next": page_url},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}",
    )
    assert response.status_code == 200
    html = response.content.decode()
    header = _oob(html, "record-header")  # rep_east is a member: still sees it, in the pool
    assert 'data-testid="pool-state"' in header and 'data-testid="claim"' in header
    assert f'Returned to the pool: <a href="{page_url}">退回客户</a>' in _oob(html, "messages")


def test_return_of_a_customer_one_no_longer_sees_sends_the_browser_to_the_list(
    world, as_user, east_pool
):
    customer = owned(east_pool, world.rep_west, "西边退回")  # rep_west: not a member
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    response = as_user(world.rep_west).post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "reason": return_reason(world.tenant_a).pk, "next": page_url},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}",
    )
    assert _reload(Customer, customer.pk).owner_id is None
    assert response["HX-Redirect"] == reverse("customers:customer-list")
    # Named, not linked: the page would be a 404 for them now.
    assert _messages(response) == ["Returned to the pool: 西边退回"]


def test_lead_return_from_its_page_swaps_the_header(world, as_user):
    make_lead_pool(world.tenant_a, is_default=True)
    lead = make_lead(world.tenant_a, world.rep_east, company="退回线索公司")
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    response = as_user(world.rep_east).post(
        reverse("leads:pool-return"),
        {"ids": [lead.pk], "reason": return_reason(world.tenant_a).pk, "next": page_url},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}",
    )
    assert _reload(Lead, lead.pk).owner_id is None
    # The default lead pool is open to all: rep_east still sees the lead, now in the pool.
    assert "HX-Redirect" not in response
    header = _oob(response.content.decode(), "record-header")
    assert "In the lead pool" in header
    assert [m for m in _messages(response) if m.startswith("Returned to the lead pool: ")]


def test_lead_claim_message_names_the_lead(world, as_user):
    group = make_lead_pool(world.tenant_a)
    lead = make_pooled_lead(group, company="池中线索公司")
    response = as_user(world.rep_east).post(reverse("leads:pool-claim"), {"ids": [lead.pk]})
    [message] = _messages(response)
    url = reverse("leads:lead-detail", args=[lead.pk])
    assert message.startswith(f'Claimed: <a href="{url}">') and str(lead) in message


def test_lead_transfer_message_names_the_new_owner_and_the_lead(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east, company="转移线索公司")
    response = as_user(world.manager_sales).post(
        reverse("leads:lead-batch"),
        {"ids": [lead.pk], "action": "transfer", "to_user": world.rep_east2.pk},
    )
    [message] = _messages(response)
    url = reverse("leads:lead-detail", args=[lead.pk])
    assert message == f'Transferred 1 lead to {world.rep_east2}: <a href="{url}">{lead}</a>'


# ---------------------------------------------------------------- header and contact links


def test_customer_header_shows_primary_contact_with_tel_and_mailto(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "联系人客户")
    make_contact(customer, "普通联系人", mobile="13800000000")
    make_contact(
        customer, "李总", mobile="139 1234 5678", email="li@example.com", is_decision_maker=True
    )
    client = as_user(world.rep_east)
    html = client.get(reverse("customers:customer-detail", args=[customer.pk])).content.decode()
    header = html[html.index('id="record-header"') : html.index('id="detail-tabs"')]
    assert "李总" in header and "普通联系人" not in header  # the decision maker first
    assert '<a href="tel:13912345678" class="nowrap">139 1234 5678</a>' in header
    assert '<a href="mailto:li@example.com">li@example.com</a>' in header
    tab = client.get(reverse("customers:customer-tab", args=[customer.pk, "contacts"]))
    body = tab.content.decode()
    assert '<a href="tel:13800000000">13800000000</a>' in body
    assert '<a href="mailto:li@example.com">li@example.com</a>' in body


def test_masked_phone_and_email_never_appear_in_links(world, as_user, east_pool):
    customer = pooled(east_pool, "池中联系人客户")
    make_contact(customer, "池联系人", mobile=PHONE, phone="02788886666", email="hide@example.com")
    east_pool.hidden_fields = ["contact_phones", "contact_emails"]
    east_pool.save()
    client = as_user(world.rep_east)
    pages = [client.get(reverse("customers:customer-detail", args=[customer.pk])).content.decode()]
    for tab in ("overview", "contacts"):
        url = reverse("customers:customer-tab", args=[customer.pk, tab])
        pages.append(client.get(url, HTTP_HX_REQUEST="true").content.decode())
    for html in pages:
        assert PHONE not in html and "02788886666" not in html and "hide@example.com" not in html
        assert "tel:" not in html and "mailto:" not in html
    assert "池联系人" in pages[0]  # the name is not hidden


def test_lead_page_links_visible_numbers_and_hides_pooled_ones(world, as_user):
    lead = make_lead(
        world.tenant_a, world.rep_east, mobile=PHONE, phone="02112345678", email="a@example.com"
    )
    html = as_user(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk]))
    html = html.content.decode()
    assert f'<a href="tel:{PHONE}">{PHONE}</a>' in html
    assert '<a href="tel:02112345678">02112345678</a>' in html
    assert '<a href="mailto:a@example.com">a@example.com</a>' in html
    assert f'href="tel:{PHONE}" class="nowrap"' in html  # in the header too

    group = make_lead_pool(world.tenant_a)
    hidden = make_pooled_lead(group, mobile="13700001111", email="p@example.com")
    group.hidden_fields = ["contact_phones", "contact_emails"]
    group.save()
    page = as_user(world.rep_east).get(reverse("leads:lead-detail", args=[hidden.pk]))
    assert page.status_code == 200
    page = page.content.decode()
    assert "13700001111" not in page and "tel:" not in page and "mailto:" not in page


def test_header_says_today_and_yesterday_not_zero_days_ago(world, as_user):
    now = timezone.now()
    today = make_customer(world.tenant_a, world.rep_east, "今天客户", last_followup_at=now)
    yesterday = make_customer(
        world.tenant_a,
        world.rep_east,
        "昨天客户",
        last_followup_at=now - datetime.timedelta(days=1, hours=1),
    )
    new = make_customer(world.tenant_a, world.rep_east, "新客户", created_at=now)
    client = as_user(world.rep_east)

    def header(customer):
        html = client.get(reverse("customers:customer-detail", args=[customer.pk]))
        html = html.content.decode()
        return html[
            html.index('data-testid="last-followup"') : html.index('data-testid="next-followup"')
        ]

    assert "(today)" in header(today) and "0 days" not in header(today)
    assert "(yesterday)" in header(yesterday) and "1 day ago" not in header(yesterday)
    assert "(created today)" in header(new)


def test_header_in_chinese_says_jintian(world, login):
    customer = make_customer(
        world.tenant_a, world.rep_east, "中文客户", last_followup_at=timezone.now()
    )
    html = login(world.rep_east).get(reverse("customers:customer-detail", args=[customer.pk]))
    html = html.content.decode()
    assert "0 天前" not in html  # 今天 once the lead merges the translations


def test_coordinates_are_not_printed_raw(world, as_user):
    customer = make_customer(
        world.tenant_a,
        world.rep_east,
        "有坐标客户",
        address="光谷大道 1 号",
        longitude="114.412345",
        latitude="30.498765",
    )
    html = as_user(world.rep_east).get(reverse("customers:customer-detail", args=[customer.pk]))
    html = html.content.decode()
    assert "光谷大道 1 号" in html
    assert "114.412345" not in html and "30.498765" not in html


# ---------------------------------------------------------------- edits made from the page


def test_lock_from_the_customer_page_swaps_the_header(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "加锁客户")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    response = as_user(world.rep_east).post(
        reverse("customers:customer-lock", args=[customer.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}?tab=activity",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Locked" in _oob(html, "record-header")
    assert 'aria-selected="true" class="active" data-tab="activity"' in _oob(html, "detail-tabs")
    assert _reload(Customer, customer.pk).is_locked


def test_lead_closed_from_its_page_swaps_the_header_with_the_status(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    response = as_user(world.rep_east).post(
        reverse("leads:lead-batch"),
        {
            "action": "close",
            "ids": [lead.pk],
            "close_reason": option(world.tenant_a, OptionKind.LEAD_CLOSE_REASON).pk,
            "close_note": "无需求",
        },
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page_url}",
    )
    assert response.status_code == 200
    header = _oob(response.content.decode(), "record-header")
    assert 'data-testid="lead-closed"' in header and "无需求" in header
    assert _reload(Lead, lead.pk).status == "closed"


def test_lead_transferred_out_of_sight_sends_the_browser_to_the_list(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).post(
        reverse("leads:lead-batch"),
        {"action": "transfer", "ids": [lead.pk], "to_user": world.rep_west.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + reverse("leads:lead-detail", args=[lead.pk]),
    )
    assert _reload(Lead, lead.pk).owner_id == world.rep_west.pk
    assert response["HX-Redirect"] == reverse("leads:lead-list")
    # Named, not linked: rep_east no longer sees it (the message waits on the list).
    assert _messages(response) == [f"Transferred 1 lead to {world.rep_west}: {lead}"]


def test_htmx_claim_from_elsewhere_than_the_page_keeps_the_redirect(world, as_user, east_pool):
    customer = pooled(east_pool, "列表里领取")
    response = as_user(world.rep_east).post(
        reverse("customers:pool-claim"),
        {"ids": [customer.pk]},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + reverse("customers:pool-list"),
    )
    assert response.status_code == 302  # no customer-page parts for the pool list
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
