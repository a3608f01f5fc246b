"""The list pattern on the lead list and the lead pool (issue 16): the quick-filter chips
filter (今日待跟进 runs by the time of day), overdue rows are marked by the view, the page
size and the page count, the sort headers, the batch bar's actions in the new markup, the
phone card's tel: link only where the masking layer shows the number, and a fixed number of
queries whether a page holds 20 or 100 rows. English is chosen (as_user): the chips' Chinese
words are compiled by the lead."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from leads.models import Lead
from pools.models import PoolGroup
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import DAY, make_group

pytestmark = pytest.mark.django_db

LIST = reverse("leads:lead-list")
POOL = reverse("leads:pool-list")


def _midnight() -> datetime.datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _names(response) -> list[str]:
    return [lead.name for lead in response.context["page"]]


def _row(html: str, pk: int) -> str:
    """The <tr> of lead ``pk``."""
    start = html.index(f'data-lead="{pk}"')
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


def _batch_actions(html: str) -> list[str]:
    """The lead list's batch actions: the bar's buttons named ``action``, in order."""
    if "data-batch-bar" not in html:
        return []
    bar = html[html.index("data-batch-bar") : html.index("</form>", html.index("data-batch-bar"))]
    return re.findall(r'name="action" value="(\w+)"', bar)


def _queries(client, url, params) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


# ---------------------------------------------------------------- the lead list: chips


@pytest.fixture
def due(world):
    """rep_east's open leads: three due today (out of order), one overdue since yesterday,
    one due tomorrow, one without a next follow-up; and a closed one due today."""
    midnight = _midnight()
    r = world.rep_east
    made = {
        "late": make_lead(
            world.tenant_a, r, "今天晚上", next_followup_at=midnight.replace(hour=21)
        ),
        "early": make_lead(
            world.tenant_a, r, "今天早上", next_followup_at=midnight.replace(hour=0, minute=5)
        ),
        "noon": make_lead(
            world.tenant_a, r, "今天中午", next_followup_at=midnight.replace(hour=12)
        ),
        "yesterday": make_lead(world.tenant_a, r, "昨天的", next_followup_at=midnight - DAY / 2),
        "tomorrow": make_lead(world.tenant_a, r, "明天的", next_followup_at=midnight + DAY * 1.5),
        "none": make_lead(world.tenant_a, r, "没约的"),
    }
    make_lead(
        world.tenant_a,
        r,
        "关闭的",
        next_followup_at=midnight.replace(hour=10),
        status=Lead.Status.CLOSED,
    )
    return made


def test_due_today_chip_lists_todays_leads_by_the_time_of_day(world, as_user, due):
    client = as_user(world.rep_east)
    response = client.get(LIST, {"due": "today"})
    # Created late, early, noon: listed early, noon, late (the time of day), not by creation.
    assert _names(response) == ["今天早上", "今天中午", "今天晚上"]
    assert response.context["sort"] == "next_followup_soon"
    # The next follow-up header is the one sorted, ascending; the chip is on.
    assert response.context["headers"]["next_followup"].direction == "asc"
    chip = {c.key: c for c in response.context["chips"]}["due_today"]
    assert chip.active and "due=" not in chip.url  # the chip again takes the filter off
    # The 跟进今天 view runs the same way without the chip.
    response = client.get(LIST, {"view": "today"})
    assert _names(response) == ["今天早上", "今天中午", "今天晚上"]
    # A sort picked by the user wins.
    response = client.get(LIST, {"due": "today", "sort": "company"})
    assert response.context["sort"] == "company"


def test_overdue_chip_and_overdue_rows_are_marked(world, as_user, due):
    client = as_user(world.rep_east)
    response = client.get(LIST, {"due": "overdue"})
    now = timezone.now()
    # Passed: yesterday's, and those of today whose time has come (at least 00:05's).
    expected = {
        lead.name for lead in due.values() if lead.next_followup_at and lead.next_followup_at < now
    }
    assert "昨天的" in expected and set(_names(response)) == expected
    html = client.get(LIST).content.decode()
    yesterday = _row(html, due["yesterday"].pk)
    assert 'class="overdue"' in yesterday and "badge-danger" in yesterday
    for key in ("tomorrow", "none", "late"):
        row = _row(html, due[key].pk)
        assert 'class="overdue"' not in row and "badge-danger" not in row
    # Computed by the view (a closed lead's past follow-up is nobody's work any more).
    rows = {
        lead.name: lead.overdue for lead in client.get(LIST, {"view": "closed"}).context["page"]
    }
    assert rows == {"关闭的": False}


def test_status_this_week_and_recycle_chips(world, as_user):
    r = world.rep_east
    pool = make_lead_pool(world.tenant_a, "七天线索池", recycle_no_followup_days=7)
    since = timezone.now() - 5 * DAY
    soon = make_lead(world.tenant_a, r, "快掉池的", pool_group=pool, owned_since=since)
    make_lead(world.tenant_a, r, "还早的", pool_group=pool, owned_since=timezone.now())
    contacted = make_lead(world.tenant_a, r, "联系过的", status=Lead.Status.CONTACTED)
    old = make_lead(world.tenant_a, r, "上月的")
    with scopes_disabled():
        Lead.objects.filter(pk__in=[old.pk, soon.pk]).update(created_at=timezone.now() - 10 * DAY)
    client = as_user(r)
    keys = [c.key for c in client.get(LIST).context["chips"]]
    assert keys == ["due_today", "overdue", "recycle_soon", "status_new", "this_week"]
    assert _names(client.get(LIST, {"recycle_within": 3})) == ["快掉池的"]
    assert contacted.name not in _names(client.get(LIST, {"status": "new"}))
    assert len(_names(client.get(LIST, {"status": "new"}))) == 3
    monday = timezone.localdate() - datetime.timedelta(days=timezone.localdate().weekday())
    this_week = _names(client.get(LIST, {"created_after": monday.isoformat()}))
    assert "上月的" not in this_week and "快掉池的" not in this_week
    assert {"还早的", "联系过的"} <= set(this_week)


def test_a_chip_keeps_the_view_search_and_page_size_and_drops_the_page(world, as_user):
    response = as_user(world.rep_east).get(LIST, {"view": "all", "q": "甲", "per": 50, "page": 3})
    chip = {c.key: c for c in response.context["chips"]}["overdue"]
    assert not chip.active
    assert "view=all" in chip.url and "per=50" in chip.url and "due=overdue" in chip.url
    assert "page=" not in chip.url


# ---------------------------------------------------------------- page size, count, sort


def test_page_size_and_page_count(world, as_user):
    for i in range(45):
        make_lead(world.tenant_a, world.rep_east, f"页{i:02d}")
    client = as_user(world.rep_east)
    response = client.get(LIST)
    page = response.context["page"]
    assert (len(page.items), page.per_page, page.total, page.num_pages) == (20, 20, 45, 3)
    html = response.content.decode()
    assert "Page 1 of 3" in html and "45 in all" in html
    page = client.get(LIST, {"per": 50}).context["page"]
    assert (len(page.items), page.num_pages, page.has_next) == (45, 1, False)
    page = client.get(LIST, {"per": 20, "page": 3}).context["page"]
    assert len(page.items) == 5 and not page.has_next
    # A size the list does not offer is the default one.
    assert client.get(LIST, {"per": 7}).context["page"].per_page == 20
    # Filtered, the count is the filter's.
    page = client.get(LIST, {"q": "页0"}).context["page"]
    assert (page.total, page.num_pages) == (10, 1)


def test_sort_headers_sort_and_turn_round(world, as_user):
    make_lead(world.tenant_a, world.rep_east, "乙", company="B公司")
    make_lead(world.tenant_a, world.rep_east, "甲", company="A公司")
    client = as_user(world.rep_east)
    headers = client.get(LIST).context["headers"]
    assert headers["created"].direction == "desc" and "sort=created" in headers["created"].url
    assert "sort=company" in headers["lead"].url
    assert _names(client.get(LIST, {"sort": "company"})) == ["甲", "乙"]
    # Sorted soonest first, the next follow-up header turns it round (latest first).
    headers = client.get(LIST, {"sort": "next_followup_soon"}).context["headers"]
    assert "sort=next_followup" in headers["next_followup"].url
    assert "sort=next_followup_soon" not in headers["next_followup"].url


# ---------------------------------------------------------------- batch bar, card, empty


def test_batch_bar_actions_per_view(world, as_user):
    make_lead(world.tenant_a, world.rep_east, "开着的")
    client = as_user(world.rep_east)
    html = client.get(LIST).content.decode()
    assert _batch_actions(html) == ["transfer", "status"]
    assert 'class="list-form"' in html and "data-batch-count" in html and "novalidate" in html
    # 关闭 and 退回线索池 open reason modals that take the ticked rows of the batch form.
    assert 'data-dialog-open="batch-close-modal"' in html
    assert 'data-dialog-open="batch-return-modal"' in html
    assert html.count('data-ids-from="batch-form"') == 2
    # The filters and the 关闭 popover's reasons offer 全部 / 请选择原因, not "---------" (the
    # user picker's empty choice is its placeholder).
    for select in re.findall(r"<select[^>]*>.*?</select>", html, re.S):
        assert "---------" not in select or "data-user-picker" in select, select[:300]
    assert re.search(r'name="close_reason"[^>]*>\s*<option value="" selected>Choose a reason', html)
    assert _batch_actions(client.get(LIST, {"view": "closed"}).content.decode()) == [
        "transfer",
        "reopen",
    ]
    # Nothing to do with converted leads: no bar, no boxes.
    html = client.get(LIST, {"view": "converted"}).content.decode()
    assert "data-batch-bar" not in html and 'name="ids"' not in html


def test_phone_card_dials_the_mobile_and_offers_a_follow_up(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east, "有手机", mobile="139 1111 2222")
    bare = make_lead(world.tenant_a, world.rep_east, "没电话")
    html = as_user(world.rep_east).get(LIST).content.decode()
    row = _row(html, lead.pk)
    assert 'href="tel:13911112222"' in row and "data-write-followup" in row
    assert "tel:" not in _row(html, bare.pk)


def test_empty_states_offer_the_next_action(world, as_user):
    client = as_user(world.rep_east)
    html = client.get(LIST).content.decode()
    assert "empty-state" in html and reverse("leads:lead-create") in html
    assert f'href="{POOL}"' in html
    html = client.get(LIST, {"q": "没有这个"}).content.decode()
    assert "No lead matches these filters." in html and "data-clear" in html


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_list_queries_are_the_same_for_20_and_100_rows(world, as_user, persona):
    midnight = _midnight()
    for i in range(22):
        make_lead(
            world.tenant_a, world.rep_east, f"少{i}", next_followup_at=midnight + i * DAY / 48
        )
    client = as_user(getattr(world, persona))
    params = {"view": "all"}
    twenty, response = _queries(client, LIST, params)
    assert len(response.context["page"].items) == 20
    for i in range(90):
        make_lead(world.tenant_a, world.rep_east, f"多{i}", next_followup_at=midnight - i * DAY)
    hundred, response = _queries(client, LIST, {**params, "per": 100})
    assert len(response.context["page"].items) == 100
    assert hundred == twenty
    # A chip (filtered: one count of its own instead of the tab's) does not grow either.
    few, _r = _queries(client, LIST, {**params, "due": "overdue"})
    many, response = _queries(client, LIST, {**params, "due": "overdue", "per": 100, "page": 1})
    assert len(response.context["page"].items) >= 90 and many == few


# ---------------------------------------------------------------- the lead pool


@pytest.fixture
def east_leads(world):
    """华东线索池 hiding phones: the east department are members, rep_east2 its admin."""
    group = make_group(
        world.tenant_a,
        "华东线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        admins=[world.rep_east2],
    )
    with scopes_disabled():
        group.hidden_fields = ["contact_phones"]
        group.save()
    return group


def test_pool_chips_filter(world, as_user, east_leads):
    make_pooled_lead(east_leads, "刚入池", last_followup_at=timezone.now() - DAY)
    make_pooled_lead(east_leads, "没跟进过")
    make_pooled_lead(east_leads, "早入池", pooled_at=timezone.now() - 10 * DAY)
    client = as_user(world.rep_east)
    response = client.get(POOL)
    assert [c.key for c in response.context["chips"]] == [
        "pooled_this_week",
        "never_followed",
        "this_week",
    ]
    # What a pooled lead does not have is no filter of the pool.
    assert not {"owner", "due", "recycle_within", "next_followup"} & set(
        response.context["filter"].filters
    )
    chips = {c.key: c for c in response.context["chips"]}
    assert set(_names(client.get(POOL + chips["never_followed"].url))) == {"没跟进过", "早入池"}
    in_week = set(_names(client.get(POOL + chips["pooled_this_week"].url)))
    assert {"刚入池", "没跟进过"} <= in_week
    assert "早入池" not in in_week


def test_pool_sort_header_turns_the_days_in_pool_round(world, as_user, east_leads):
    make_pooled_lead(east_leads, "新来的")
    make_pooled_lead(east_leads, "老的", pooled_at=timezone.now() - 10 * DAY)
    client = as_user(world.rep_east)
    response = client.get(POOL)
    assert _names(response) == ["新来的", "老的"]
    header = response.context["headers"]["pooled"]
    assert header.direction == "asc" and "sort=pooled_oldest" in header.url
    assert _names(client.get(POOL + header.url)) == ["老的", "新来的"]


def test_pool_cards_mask_the_number_and_offer_a_claim(world, as_user, east_leads):
    lead = make_pooled_lead(east_leads, "池中人", mobile="13911112222")
    member = as_user(world.rep_east).get(POOL).content.decode()
    row = _row(member, lead.pk)
    assert "13911112222" not in member and "tel:" not in row
    assert f'data-claim-card="{lead.pk}"' in row and f'data-claim="{lead.pk}"' in row
    # The batch bar: claim, and for the pool's admin assign and move, in popovers.
    assert re.findall(r'data-action="(\w+)"', member) == ["claim"]
    admin = as_user(world.rep_east2).get(POOL).content.decode()
    assert 'href="tel:13911112222"' in _row(admin, lead.pk)
    assert re.findall(r'data-action="(\w+)"', admin) == ["claim", "assign", "move"]
    assert admin.count('class="batch-pop"') == 2


def test_pool_page_size_count_and_fixed_queries(world, as_user, east_leads):
    client = as_user(world.rep_east)
    for i in range(22):
        make_pooled_lead(east_leads, f"少{i}", pooled_at=timezone.now() - i * DAY / 24)
    client.get(POOL)  # the default lead pool is created on the first visit
    twenty, response = _queries(client, POOL, {})
    page = response.context["page"]
    assert (len(page.items), page.total, page.num_pages) == (20, 22, 2)
    for i in range(90):
        make_pooled_lead(east_leads, f"多{i}", pooled_at=timezone.now() - (i + 2) * DAY)
    hundred, response = _queries(client, POOL, {"per": 100})
    page = response.context["page"]
    assert (len(page.items), page.total, page.num_pages) == (100, 112, 2)
    assert "Page 1 of 2" in response.content.decode()
    assert hundred == twenty


# ---------------------------------------------------------------- the batch bar's reason modals


def _htmx(url: str) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{url}"}


def _inline_error(html: str) -> str:
    found = re.search(r'<div class="error" role="alert" data-testid="modal-error">([^<]*)', html)
    return found.group(1) if found else ""


def test_closing_ticked_leads_asks_the_reason_in_a_modal(world, login):
    from crm.models import OptionKind
    from tests.customers.factories import option

    leads = [make_lead(world.tenant_a, world.rep_east, f"关{i}") for i in range(2)]
    url = LIST + "?view=mine"
    client = login(world.rep_east)
    post = {
        "modal": "batch-close-modal",
        "action": "close",
        "ids": [lead.pk for lead in leads],
        "next": url,
    }
    refused = client.post(reverse("leads:lead-batch"), post, **_htmx(url))
    assert refused.status_code == 422
    html = refused.content.decode()
    assert 'id="batch-close-modal-form"' in html and _inline_error(html) == "请选择关闭线索的原因。"
    assert f'name="next" value="{url}"'.replace("&", "&amp;") in html
    with scopes_disabled():
        assert not Lead.objects.filter(pk__in=post["ids"], status="closed").exists()
    reason = option(world.tenant_a, OptionKind.LEAD_CLOSE_REASON)
    done = client.post(
        reverse("leads:lead-batch"), {**post, "close_reason": reason.pk}, **_htmx(url)
    )
    assert done.status_code == 200 and done.headers["HX-Redirect"] == url
    with scopes_disabled():
        assert Lead.objects.filter(pk__in=post["ids"], status="closed").count() == 2


def test_returning_ticked_leads_asks_the_reason_in_a_modal(world, login, east_leads):
    from tests.pools.factories import return_reason

    lead = make_lead(world.tenant_a, world.rep_east, "退回的线索")
    url = LIST + "?view=mine"
    client = login(world.rep_east)
    post = {"modal": "batch-return-modal", "ids": [lead.pk], "next": url}
    refused = client.post(reverse("leads:pool-return"), post, **_htmx(url))
    assert refused.status_code == 422
    html = refused.content.decode()
    assert 'id="batch-return-modal-form"' in html and _inline_error(html)
    with scopes_disabled():
        assert Lead.objects.get(pk=lead.pk).pooled_at is None
    done = client.post(
        reverse("leads:pool-return"),
        {**post, "reason": return_reason(world.tenant_a).pk},
        **_htmx(url),
    )
    assert done.status_code == 200 and done.headers["HX-Redirect"] == url
    with scopes_disabled():
        assert Lead.objects.get(pk=lead.pk).pooled_at is not None
