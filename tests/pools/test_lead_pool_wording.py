"""线索池设置 names its admins 线索池管理员, never 公海管理员 (issue 16); the public pool's
settings keep 公海管理员."""

from __future__ import annotations

from django.urls import reverse

from pools.models import PoolGroup
from tests.pools.factories import make_group


def _lead_pool(world):
    return make_group(
        world.tenant_a,
        "华东线索池",
        kind=PoolGroup.Kind.LEAD,
        departments=[world.east],
        admins=[world.rep_east],
        claim_mode=PoolGroup.ClaimMode.ADMIN,
    )


def test_lead_pool_settings_call_their_admins_lead_pool_admins(world, as_user):
    group = _lead_pool(world)
    make_group(world.tenant_a, "全员公海", open_to_all=True, claim_mode=PoolGroup.ClaimMode.ADMIN)
    client = as_user(world.admin_a)
    for url in (
        reverse("leads:pool-group-list"),
        reverse("leads:pool-group-edit", args=[group.pk]),
        reverse("leads:pool-group-create"),
    ):
        page = client.get(url).content.decode()
        assert "Lead pool admins" in page, url
        assert "Pool admins" not in page, url
    listing = client.get(reverse("leads:pool-group-list")).content.decode()
    assert "Only lead pool admins assign leads" in listing
    assert "Only pool admins assign customers" not in listing
    customers_page = client.get(reverse("pools:group-list")).content.decode()
    assert "Pool admins" in customers_page and "Lead pool admins" not in customers_page


def test_lead_pool_settings_never_say_public_pool_admin_in_chinese(world, login):
    group = _lead_pool(world)
    client = login(world.admin_a)
    for url in (
        reverse("leads:pool-group-list"),
        reverse("leads:pool-group-edit", args=[group.pk]),
    ):
        assert "公海管理员" not in client.get(url).content.decode(), url
