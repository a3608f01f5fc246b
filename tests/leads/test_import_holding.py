"""The lead import respects the holding limit of the lead pool (issue 15, "holding limits
hold when a transfer or an import races a claim").

A lead imported for an owner (target: employees or a department) belongs to the default
lead pool; an owner with no room under that pool's holding limit gets no more leads: those
rows fail one by one with a message naming the owner, the rest is written. The import
locks the owners' rows first (``pools.services.lock_users``), as a claim locks its
claimer, so a claim racing an import's batch never leaves the owner above the limit
(PostgreSQL, real threads, as tests/pools/test_races.py does for customers).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.exceptions import ServiceError
from crm.models import ImportJob
from crm.tenancy import tenant_scope
from leads import pooling
from leads.models import Lead
from leads.subjects import LEAD
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.factories import make_user
from tests.leads.factories import make_lead, make_pooled_lead
from tests.pools.factories import fresh_user, set_rules
from tests.pools.test_concurrency import _run_threads

LIMIT = 3
ROUNDS = 4


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _open_leads(user) -> int:
    with scopes_disabled():
        return Lead.objects.filter(owner=user).open().count()


def _limited_default_pool(world):
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "lead")
    set_rules(group, holding_limit=LIMIT)
    return group


def _import_job(world, owners, companies):
    rows = [[f"联系人{i}", company, ""] for i, company in enumerate(companies)]
    upload = SimpleUploadedFile("线索.xlsx", files.xlsx_bytes(["姓名", "公司名称", "手机"], rows))
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="leads",
            upload=upload,
            options={"target": "users", "users": [o.pk for o in owners]},
        )
    assert job.status == ImportJob.Status.PREVIEWED, job.summary
    return job


def _message(user, group) -> str:
    return translation.gettext(
        "Not imported: %(user)s holds %(held)d open leads; the limit of %(group)s is %(limit)d."
    ) % {"user": user, "held": LIMIT, "group": group.name, "limit": LIMIT}


def test_rows_past_the_owners_holding_limit_fail_one_by_one_with_a_message(world):
    group = _limited_default_pool(world)
    make_lead(world.tenant_a, world.rep_east, pool_group=group)
    # A closed lead is done with: the limit does not count it.
    make_lead(world.tenant_a, world.rep_east, pool_group=group, status=Lead.Status.CLOSED)
    job = _import_job(world, [world.rep_east], ["导入甲", "导入乙", "导入丙", "导入丁"])
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_confirm(actor=world.admin_a, job=job)
    assert job.status == ImportJob.Status.DONE
    assert (job.summary["created"], job.summary["failed"]) == (LIMIT - 1, 2)
    assert _open_leads(world.rep_east) == LIMIT
    message = _message(world.rep_east, group)
    assert [m for _row, m in job.summary["late_errors"]] == [message, message]
    with scopes_disabled():
        imported = Lead.objects.filter(import_job=job)
        assert {lead.company for lead in imported} == {"导入甲", "导入乙"}
        assert {lead.pool_group_id for lead in imported} == {group.pk}


def test_other_owners_keep_getting_their_rows(world):
    group = _limited_default_pool(world)
    for _ in range(LIMIT):
        make_lead(world.tenant_a, world.rep_east, pool_group=group)
    job = _import_job(world, [world.rep_east, world.rep_west], ["甲", "乙", "丙", "丁"])
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_confirm(actor=world.admin_a, job=job)
    # Even distribution: rows 1 and 3 for rep_east (full), 2 and 4 for rep_west.
    assert (job.summary["created"], job.summary["failed"]) == (2, 2)
    assert _open_leads(world.rep_east) == LIMIT
    assert _open_leads(world.rep_west) == 2


def test_no_limit_and_pool_imports_are_unchanged(world):
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "lead")
    for _ in range(LIMIT):
        make_lead(world.tenant_a, world.rep_east, pool_group=group)
    job = _import_job(world, [world.rep_east], ["无限甲", "无限乙"])
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_confirm(actor=world.admin_a, job=job)
    assert (job.summary["created"], job.summary["failed"]) == (2, 0)


# ---------------------------------------------------------------- races (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lead_claim_racing_a_lead_import_never_leaves_the_user_above_the_limit(world):
    group = _limited_default_pool(world)
    for round_no in range(ROUNDS):
        rep = make_user(world.tenant_a, f"lead_import_rep{round_no}", department=world.east)
        for _ in range(LIMIT - 1):
            make_lead(world.tenant_a, rep, pool_group=group)
        free = make_pooled_lead(group)
        job = _import_job(world, [rep], [f"竞争导入公司{round_no}"])
        # Applied by "a worker" below, at the same moment as the claim.
        with scopes_disabled():
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.APPLYING, progress_done=0, progress_total=1
            )
        claimer = fresh_user(rep)
        _ = claimer.permission_codes
        outcomes = {}

        def apply(job=job):
            with tenant_scope(world.tenant_a.pk):
                importing.import_apply(job.pk)

        def claim(claimer=claimer, free=free, outcomes=outcomes):
            with tenant_scope(claimer.tenant_id):
                try:
                    pooling.lead_claim(actor=claimer, leads=[free])
                except ServiceError as exc:
                    outcomes["claim"] = exc

        assert _run_threads([apply, claim]) == []
        with scopes_disabled():
            job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE
        assert _open_leads(rep) == LIMIT, f"round {round_no}: {outcomes} {job.summary}"
        if "claim" in outcomes:  # the import came first
            assert job.summary["created"] == 1
            assert outcomes["claim"].code == "holding_limit"
            assert str(outcomes["claim"].message) == LEAD.message(
                "holding_self", user=rep, held=LIMIT, group=group.name, limit=LIMIT, room=0
            )
        else:  # the claim came first: the import's row failed with the limit's message
            assert job.summary["created"] == 0 and job.summary["failed"] == 1
            [[_row, message]] = job.summary["late_errors"]
            assert message == _message(rep, group)
