"""Managers' comments (点评) on the follow-ups of any owned record (issue 14.2): from the
follow-ups tab of a lead and of a customer, through HTTP, and the service on a converted
lead's follow-up seen through its customer. What is stored, who is told, where it is logged,
every refusal, and a fixed number of queries on the tab. English is chosen so messages read
as in the code."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from crm.exceptions import NotVisibleError
from customers import activity_actions as actions
from customers import selectors, services
from customers.models import FollowUpComment
from tests.customers.factories import logs, make_customer, make_followup, notifications
from tests.leads.factories import make_lead, make_lead_followup

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def comments_on(followup) -> list[FollowUpComment]:
    with scopes_disabled():
        return list(FollowUpComment.objects.filter(followup_id=followup.pk).order_by("id"))


def comment_url(followup) -> str:
    return reverse("customers:followup-comment", args=[followup.pk])


def lead_tab(lead) -> str:
    return reverse("leads:lead-detail", args=[lead.pk]) + "?tab=followups"


def customer_tab(customer) -> str:
    return reverse("customers:customer-detail", args=[customer.pk]) + "?tab=followups"


@pytest.fixture
def lead_followup(world):
    """rep_east's lead with rep_east's follow-up on it (manager_sales covers rep_east)."""
    lead = make_lead(world.tenant_a, world.rep_east, "王五", company="华东线索公司")
    return lead, make_lead_followup(lead, world.rep_east, "第一次电话")


# ---------------------------------------------------------------- a lead's follow-ups


def test_manager_comments_on_a_leads_followup_from_the_lead_page(world, as_user, lead_followup):
    lead, followup = lead_followup
    client = as_user(world.manager_sales)
    page = client.get(lead_tab(lead))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'action="{comment_url(followup)}"' in html
    assert f'name="next" value="{lead_tab(lead)}"' in html

    response = client.post(comment_url(followup), {"content": " 跟紧一点 ", "next": lead_tab(lead)})

    assert response.status_code == 302
    assert response["Location"] == lead_tab(lead)
    [comment] = comments_on(followup)
    assert (comment.content, comment.author_id, comment.tenant_id) == (
        "跟紧一点",
        world.manager_sales.pk,
        world.tenant_a.pk,
    )
    [note] = notifications(world.rep_east)
    assert note.title == f"{world.manager_sales} commented on your follow-up of 华东线索公司 王五"
    assert note.body == "跟紧一点"
    assert note.link == reverse("leads:lead-detail", args=[lead.pk])
    [entry] = logs(lead, actions.FOLLOWUP_COMMENTED)
    assert (entry.actor_id, entry.note) == (world.manager_sales.pk, "跟紧一点")
    # The comment shows under the follow-up when the user comes back to the tab.
    assert "跟紧一点" in client.get(response["Location"]).content.decode()


def test_author_is_not_offered_the_comment_form_and_is_refused(world, as_user, lead_followup):
    lead, followup = lead_followup
    client = as_user(world.rep_east)
    page = client.get(lead_tab(lead))
    assert page.status_code == 200
    assert comment_url(followup) not in page.content.decode()

    response = client.post(comment_url(followup), {"content": "自评", "next": lead_tab(lead)})

    assert response.status_code == 302
    assert response["Location"] == lead_tab(lead)
    assert messages_of(response) == ["Only the author's managers comment on follow-ups."]
    assert comments_on(followup) == []
    assert logs(lead, actions.FOLLOWUP_COMMENTED) == []
    assert notifications(world.rep_east) == []


def test_the_form_is_offered_only_on_the_followups_the_user_may_comment(
    world, as_user, lead_followup
):
    lead, theirs = lead_followup
    own = make_lead_followup(lead, world.manager_sales, "经理陪访")
    html = as_user(world.manager_sales).get(lead_tab(lead)).content.decode()
    assert comment_url(theirs) in html
    assert comment_url(own) not in html


@pytest.mark.parametrize("persona", ["rep_east2", "rep_b"])
def test_comment_on_a_lead_followup_the_user_may_not_see_is_not_found(
    world, as_user, lead_followup, persona
):
    """rep_east2 (same department, own scope) does not see rep_east's lead; rep_b is in
    another tenant: both get the page of a missing record, and nothing is written."""
    lead, followup = lead_followup
    client = as_user(getattr(world, persona))
    assert client.get(lead_tab(lead)).status_code == 404

    response = client.post(comment_url(followup), {"content": "点评", "next": lead_tab(lead)})

    assert response.status_code == 404
    assert comments_on(followup) == []
    assert notifications(world.rep_east) == []
    assert logs(lead, actions.FOLLOWUP_COMMENTED) == []


def test_empty_comment_on_a_lead_followup_is_refused_with_a_message(world, as_user, lead_followup):
    lead, followup = lead_followup
    response = as_user(world.manager_sales).post(
        comment_url(followup), {"content": "  ", "next": lead_tab(lead)}
    )
    assert response.status_code == 302
    assert response["Location"] == lead_tab(lead)
    assert messages_of(response) == ["Write a comment."]
    assert comments_on(followup) == []


def test_selector_finds_a_lead_followup_through_the_leads_visibility(world, scoped, lead_followup):
    lead, followup = lead_followup
    with scoped(world.manager_sales):
        found = selectors.followup_get_for_actor(actor=world.manager_sales, pk=followup.pk)
        assert found.pk == followup.pk
        assert found.record == lead
    for persona in ("rep_east2", "rep_b"):
        actor = getattr(world, persona)
        with scoped(actor), pytest.raises(Http404):
            selectors.followup_get_for_actor(actor=actor, pk=followup.pk)


# ---------------------------------------------------------------- a customer's follow-ups


def test_manager_comments_on_a_customers_followup_from_the_customer_page(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "华东机械")
    followup = make_followup(customer, world.rep_east, "电话沟通")
    client = as_user(world.manager_sales)
    html = client.get(customer_tab(customer)).content.decode()
    assert f'action="{comment_url(followup)}"' in html
    assert f'name="next" value="{customer_tab(customer)}"' in html

    response = client.post(comment_url(followup), {"content": "好", "next": customer_tab(customer)})

    assert response.status_code == 302
    assert response["Location"] == customer_tab(customer)
    [comment] = comments_on(followup)
    assert (comment.content, comment.author_id) == ("好", world.manager_sales.pk)
    [note] = notifications(world.rep_east)
    assert note.title == f"{world.manager_sales} commented on your follow-up of 华东机械"
    assert note.link == reverse("customers:customer-detail", args=[customer.pk])
    assert [e.note for e in logs(customer, actions.FOLLOWUP_COMMENTED)] == ["好"]


def test_comment_from_the_feed_still_returns_to_the_feed(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    response = as_user(world.manager_sales).post(comment_url(followup), {"content": "好"})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:followup-feed")
    assert len(comments_on(followup)) == 1


def test_converted_leads_followup_is_commented_through_its_customer(world, scoped):
    """A converted lead's follow-up is on its customer's page: a manager who sees the
    customer (rep_east's) but not the lead (service_a's) comments on it; the entry and
    the link are the lead's, the record the follow-up is on."""
    customer = make_customer(world.tenant_a, world.rep_east, "转化客户")
    lead = make_lead(world.tenant_a, world.service_a, "赵六", company="", customer=customer)
    followup = make_lead_followup(lead, world.rep_east, "转化前的电话")
    with scoped(world.manager_sales):
        found = selectors.followup_get_for_actor(actor=world.manager_sales, pk=followup.pk)
        services.followup_comment(actor=world.manager_sales, followup=found, content="继续")
    assert [c.content for c in comments_on(followup)] == ["继续"]
    [note] = notifications(world.rep_east)
    assert "赵六" in note.title
    assert note.link == reverse("leads:lead-detail", args=[lead.pk])
    assert [e.note for e in logs(lead, actions.FOLLOWUP_COMMENTED)] == ["继续"]
    assert logs(customer, actions.FOLLOWUP_COMMENTED) == []


def test_comment_on_a_converted_leads_followup_refused_when_neither_is_visible(world, scoped):
    customer = make_customer(world.tenant_a, world.service_a, "售后客户")
    lead = make_lead(world.tenant_a, world.service_a, "钱七", company="", customer=customer)
    followup = make_lead_followup(lead, world.rep_east, "电话")
    with scoped(world.manager_sales), pytest.raises(NotVisibleError) as exc:
        services.followup_comment(actor=world.manager_sales, followup=followup, content="看")
    assert exc.value.code == "not_visible"
    assert comments_on(followup) == []
    assert notifications(world.rep_east) == []


# ---------------------------------------------------------------- fixed number of queries


def _tab_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _commented_followups(record, authors, commenter, n: int, make):
    for i in range(n):
        followup = make(record, authors[i % len(authors)], f"跟进{i}")
        with scopes_disabled():
            followup.comments.create(tenant_id=record.tenant_id, author=commenter, content="阅")


@pytest.mark.parametrize("kind", ["lead", "customer"])
def test_followups_tab_queries_do_not_grow_with_the_followups(world, kind):
    w = world
    if kind == "lead":
        record, make, url = make_lead(w.tenant_a, w.rep_east), make_lead_followup, lead_tab
    else:
        record, make, url = make_customer(w.tenant_a, w.rep_east), make_followup, customer_tab
    authors = [w.rep_east, w.rep_east2, w.rep_west, w.manager_sales]
    client = Client()
    client.force_login(w.manager_sales)
    _commented_followups(record, authors, w.admin_a, 1, make)
    client.get(url(record))  # warm the per-process caches (content types, session)
    few = _tab_queries(client, url(record))
    _commented_followups(record, authors, w.admin_a, 7, make)
    many = _tab_queries(client, url(record))
    assert many == few
    # Forms on the follow-ups of the others only (7 of the 8: one is the manager's own).
    assert client.get(url(record)).content.decode().count('class="inline-form comment-form"') == 7
