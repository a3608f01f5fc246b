"""The lead export (导出线索) through HTTP: lead.export, only visible rows (never a pooled
lead, never another tenant's), the filtered list or the ticked rows (refused as a whole when
one is not visible), formula neutralisation, 我的导出 for lead exporters, the audit log."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled

from crm.models import ActivityLog, ExportJob
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead

URL = "leads:lead-export"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def rows_of(response) -> list[tuple]:
    assert response.status_code == 200, response
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def names_of(response) -> list[str]:
    return sorted(row[0] for row in rows_of(response)[1:])


@pytest.fixture
def some_leads(world):
    return {
        "east": make_lead(world.tenant_a, world.rep_east, "东一", company="东公司"),
        "east2": make_lead(world.tenant_a, world.rep_east2, "东二"),
        "west": make_lead(world.tenant_a, world.rep_west, "西一"),
        "admin": make_lead(world.tenant_a, world.admin_a, "总部"),
        "pooled": make_pooled_lead(make_lead_pool(world.tenant_a), "池里", mobile="13800138000"),
        "b": make_lead(world.tenant_b, world.rep_b, "乙方"),
    }


@pytest.mark.parametrize("persona", ["rep_east", "service_a"])
def test_export_needs_lead_export(world, login, persona, some_leads):
    client = login(getattr(world, persona))
    assert client.post(reverse(URL) + "?view=all").status_code == 403
    assert client.post(reverse(URL), {"ids": [some_leads["east"].pk]}).status_code == 403
    with scopes_disabled():
        assert not ExportJob.objects.exists()


def test_a_manager_exports_the_visible_team_leads_only(world, login, some_leads):
    client = login(world.manager_sales)
    response = client.post(reverse(URL) + "?view=all")
    assert names_of(response) == sorted(["东一", "东二", "西一"])  # no pool, no head office
    header = rows_of(response)[0]
    assert header[:3] == ("联系人姓名", "公司名称", "手机号")  # the user's language


def test_the_filters_of_the_list_apply(world, login, some_leads):
    client = login(world.admin_a)
    response = client.post(reverse(URL) + "?view=all&q=东")
    assert names_of(response) == sorted(["东一", "东二"])


def test_selected_rows_are_exported_or_refused_as_a_whole(world, login, some_leads):
    client = login(world.manager_sales)
    ok = client.post(reverse(URL), {"ids": [some_leads["east"].pk, some_leads["west"].pk]})
    assert names_of(ok) == sorted(["东一", "西一"])
    for invisible in ("admin", "pooled", "b"):
        refused = client.post(
            reverse(URL), {"ids": [some_leads["east"].pk, some_leads[invisible].pk]}
        )
        assert refused.status_code == 302
    with scopes_disabled():
        assert ExportJob.objects.count() == 1


def test_formulas_are_neutralised(world, login):
    make_lead(world.tenant_a, world.admin_a, '=HYPERLINK("http://x")', company="+1+1")
    response = login(world.admin_a).post(reverse(URL) + "?view=all")
    (row,) = rows_of(response)[1:]
    assert row[0] == '\'=HYPERLINK("http://x")' and row[1] == "'+1+1"


def test_the_export_is_audit_logged_and_listed_in_my_exports(world, login, some_leads):
    from tests.factories import make_role

    role = make_role(world.tenant_a, "线索导出", "all", ["lead.export"])
    with scopes_disabled():
        world.rep_west.role = role
        world.rep_west.save()
    client = login(world.rep_west)
    names = names_of(client.post(reverse(URL) + "?view=all"))
    assert "总部" in names and "池里" not in names and "乙方" not in names
    with scopes_disabled():
        job = ExportJob.objects.get()
        (entry,) = ActivityLog.objects.filter(action="export.created", object_id=job.pk)
    assert (job.kind, job.created_by_id, job.row_count) == ("leads", world.rep_west.pk, 4)
    assert entry.changes["kind"] == ["", "leads"]
    # 我的导出 opens for whoever may export leads, without customer.export.
    assert client.get(reverse("crm:export-list")).status_code == 200
    assert client.post(reverse("customers:customer-export")).status_code == 403


def test_a_large_export_goes_to_a_worker(world, login, settings, some_leads):
    from django.test import TestCase

    settings.EXPORT_SYNC_ROWS = 1
    client = login(world.admin_a)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse(URL) + "?view=all")
    assert response.status_code == 302 and response["Location"] == reverse("crm:export-list")
    with scopes_disabled():
        job = ExportJob.objects.get()
    assert (job.status, job.row_count) == (ExportJob.Status.DONE, 4)


def test_the_export_reads_a_fixed_number_of_queries_whatever_the_row_count(world, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.admin_a)
    counts = []
    for n in (2, 8):
        for i in range(n):
            make_lead(world.tenant_a, world.rep_east, f"批{n}-{i}")
        with CaptureQueriesContext(connection) as queries:
            rows_of(client.post(reverse(URL) + "?view=all"))
        counts.append(len(queries))
    assert counts[0] == counts[1]
