"""Issue 16 §3: the follow-up form of the customer and lead pages: the type as tap chips (radio
inputs) starting on the type the user used last, and the quick picks of the next follow-up time
(今天下午, 明天上午, 3 天后, 下周一), whose data- attributes static/js/record.js reads (the times
themselves are computed in the browser: tests/browser/test_reason_modal.py)."""

from __future__ import annotations

import datetime
import re

from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.models import Option, OptionKind
from crm.tenancy import tenant_scope
from customers.forms import FollowUpForm
from tests.customers.factories import make_customer, make_followup
from tests.leads.factories import make_lead


def _types(tenant) -> list[Option]:
    with scopes_disabled():
        return list(
            Option.objects.filter(tenant=tenant, kind=OptionKind.FOLLOWUP_TYPE).order_by("id")
        )


def test_the_type_starts_on_the_users_latest_follow_up(world, django_assert_num_queries):
    first, second = _types(world.tenant_a)[:2]
    customer = make_customer(world.tenant_a, world.rep_east, "跟进类型")
    now = timezone.now()
    make_followup(
        customer, world.rep_east, kind=second, followed_at=now - datetime.timedelta(days=1)
    )
    make_followup(customer, world.rep_east, kind=first, followed_at=now)
    # Someone else's later follow-up does not count.
    make_followup(
        customer, world.rep_east2, kind=second, followed_at=now + datetime.timedelta(hours=1)
    )
    with tenant_scope(world.tenant_a.pk), django_assert_num_queries(1):
        form = FollowUpForm(record=customer, actor=world.rep_east)
    assert form.initial["kind"] == first.pk


def test_a_user_without_follow_ups_gets_no_preselected_type(world):
    customer = make_customer(world.tenant_a, world.rep_east, "没有跟进")
    with tenant_scope(world.tenant_a.pk):
        form = FollowUpForm(record=customer, actor=world.rep_east)
    assert form.initial["kind"] is None


def test_a_posted_form_reads_no_default(world, django_assert_num_queries):
    customer = make_customer(world.tenant_a, world.rep_east, "已提交")
    with tenant_scope(world.tenant_a.pk), django_assert_num_queries(0):
        form = FollowUpForm({"content": "x"}, record=customer, actor=world.rep_east)
    assert "kind" not in form.initial


def _checked_kind(html: str) -> str | None:
    """The value of the checked radio of name kind, if any."""
    for tag in re.findall(r'<input type="radio" name="kind"[^>]*>', html):
        if " checked" in tag:
            return re.search(r'value="(\d+)"', tag).group(1)
    return None


def _assert_quick_picks(html: str) -> None:
    picks = re.search(
        r'<div class="quick-picks"[^>]*data-testid="quick-picks">(.*?)</div>', html, re.S
    )
    assert picks, "no quick picks under the next follow-up time"
    buttons = re.findall(r"<button [^>]*>", picks.group(1))
    kinds = [re.search(r'data-quick-pick="([^"]+)"', b).group(1) for b in buttons]
    assert kinds == ["today-pm", "tomorrow-am", "in-3-days", "next-monday"]
    for button in buttons:
        assert 'type="button"' in button  # never submits the form
        assert 'data-for="id_next_followup_at"' in button
        assert 'data-tz="Asia/Shanghai"' in button  # crm/settings.py TIME_ZONE
    assert 'id="id_next_followup_at"' in html and 'type="datetime-local"' in html


def test_customer_follow_up_tab_shows_type_chips_and_quick_picks(world, as_user):
    kinds = _types(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east, "快捷时间")
    make_followup(customer, world.rep_east, kind=kinds[1])
    html = (
        as_user(world.rep_east)
        .get(
            reverse("customers:customer-tab", args=[customer.pk, "followups"]),
            HTTP_HX_REQUEST="true",
        )
        .content.decode()
    )
    assert 'class="chip-group"' in html and '<select name="kind"' not in html
    assert len(re.findall(r'<input type="radio" name="kind"', html)) == len(kinds)
    assert _checked_kind(html) == str(kinds[1].pk)
    _assert_quick_picks(html)
    # The form itself asks the browser for nothing: no bubbles.
    assert re.search(r'<form [^>]*id="followup-form"[^>]*novalidate', html)


def test_lead_follow_up_tab_shows_type_chips_and_quick_picks(world, as_user):
    kinds = _types(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east, "别处的跟进")
    make_followup(customer, world.rep_east, kind=kinds[2])  # the latest, on any record
    lead = make_lead(world.tenant_a, world.rep_east, company="线索快捷")
    html = (
        as_user(world.rep_east)
        .get(reverse("leads:lead-detail", args=[lead.pk]) + "?tab=followups")
        .content.decode()
    )
    assert _checked_kind(html) == str(kinds[2].pk)
    _assert_quick_picks(html)


def test_follow_up_saved_from_chips(world, as_user):
    kinds = _types(world.tenant_a)
    customer = make_customer(world.tenant_a, world.rep_east, "保存跟进")
    response = as_user(world.rep_east).post(
        reverse("customers:followup-create", args=[customer.pk]),
        {"kind": kinds[0].pk, "content": "拜访", "next_followup_at": "2030-01-07T09:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    with scopes_disabled():
        followup = customer.followups.get()
    assert followup.kind_id == kinds[0].pk
    assert (
        timezone.localtime(followup.next_followup_at).strftime("%Y-%m-%d %H:%M")
        == "2030-01-07 09:00"
    )
