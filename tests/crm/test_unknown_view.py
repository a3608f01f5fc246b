"""An unknown ``?view=`` (an old bookmark, a typo) shows the list's default view instead of
a 404 (issue 16): the customer list, the lead list and both pool lists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.customers.factories import make_customer
from tests.leads.factories import make_lead


@pytest.mark.parametrize("view", ["nonsense", "bin2", "%00"])
def test_unknown_view_on_the_customer_list_is_the_default_view(world, login, view):
    make_customer(world.tenant_a, world.rep_east, "我的客户甲")
    make_customer(world.tenant_b, world.rep_b, "别家客户")
    response = login(world.rep_east).get(reverse("customers:customer-list"), {"view": view})
    assert response.status_code == 200
    assert response.context["view"] == "mine"
    body = response.content.decode()
    assert "我的客户甲" in body and "别家客户" not in body


def test_unknown_view_on_the_lead_list_is_the_default_view(world, login):
    make_lead(world.tenant_a, world.rep_east, company="线索公司甲")
    response = login(world.rep_east).get(reverse("leads:lead-list"), {"view": "nonsense"})
    assert response.status_code == 200
    assert response.context["view"] == "mine"
    assert "线索公司甲" in response.content.decode()


@pytest.mark.parametrize("name", ["customers:pool-list", "leads:pool-list"])
def test_unknown_view_on_the_pool_lists_is_ignored(world, login, name):
    response = login(world.rep_east).get(reverse(name), {"view": "nonsense"})
    assert response.status_code == 200
