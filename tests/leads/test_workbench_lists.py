"""The workbench's lead lists (issue 16): "20 / 29" with 全部 linking to the lead list of
exactly those rows, and a one-click 写跟进 on every item."""

from __future__ import annotations

import datetime
import re

from django.urls import reverse

from customers.selectors import today_bounds
from leads.models import Lead
from tests.leads.factories import make_lead

DAY = datetime.timedelta(days=1)


def _at_noon():
    start, _end = today_bounds()
    return start + datetime.timedelta(hours=12)


def test_lead_lists_count_link_and_offer_write_follow_up(world, login):
    t = world.tenant_a
    overdue = [
        make_lead(
            t, world.rep_east, company=f"逾期公司{i:02d}", next_followup_at=_at_noon() - 3 * DAY
        )
        for i in range(22)
    ]
    make_lead(t, world.rep_east, company="今日公司", next_followup_at=_at_noon())
    make_lead(
        t,
        world.rep_east,
        company="已关闭公司",
        next_followup_at=_at_noon(),
        status=Lead.Status.CLOSED,
    )
    make_lead(t, world.rep_east2, company="同事今日", next_followup_at=_at_noon())
    make_lead(world.tenant_b, world.rep_b, company="乙今日", next_followup_at=_at_noon())
    client = login(world.rep_east)
    html = client.get(reverse("crm:workbench")).content.decode()
    panel = html[html.index('data-testid="lead-followups-due"') :]
    assert "1 / 1" in panel and "20 / 22" in panel
    links = [
        href.replace("&amp;", "&")
        for href in re.findall(r'href="(' + reverse("leads:lead-list") + r'\?[^"]+)"', panel)
    ]
    today_link, overdue_link = links[:2]

    def companies(url):
        # 100 a page: the list's first page holds 20 (crm.views.lists.PER_PAGE), the link
        # says which leads, not how many a page shows.
        response = client.get(url + "&per=100")
        assert response.status_code == 200
        return {lead.company for lead in response.context["page"]}

    assert companies(today_link) == {"今日公司"}
    assert companies(overdue_link) == {lead.company for lead in overdue}
    write = reverse("leads:lead-detail", args=[overdue[0].pk]) + "?tab=followups#followup-form"
    assert write in panel


def test_leads_about_to_fall_into_the_pool_link_to_exactly_those(world, login):
    from django.utils import timezone

    from tests.leads.factories import make_lead_pool

    pool = make_lead_pool(world.tenant_a, "七天线索池", recycle_no_followup_days=7)

    def owned(company, days_ago, owner=world.rep_east, **fields):
        since = timezone.now() - days_ago * DAY
        return make_lead(
            world.tenant_a,
            owner,
            company=company,
            pool_group=pool,
            owned_since=since,
            created_at=since,
            **fields,
        )

    owned("快掉线索池", 5)
    owned("还早的线索", 1)
    owned("关闭的线索", 5, status=Lead.Status.CLOSED)
    owned("别人的线索", 5, owner=world.rep_east2)
    client = login(world.rep_east)
    html = client.get(reverse("crm:workbench")).content.decode()
    panel = html[html.index('data-testid="lead-recycle-soon"') :]
    panel = panel[: panel.index("</section>")]
    assert "1 / 1" in panel
    link = re.search(r'href="(' + reverse("leads:lead-list") + r'\?[^"]+)"', panel).group(1)
    response = client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200
    assert {lead.company for lead in response.context["page"]} == {"快掉线索池"}
