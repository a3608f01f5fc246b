"""Holding limits hold when a transfer or an import races a claim (issue 15).

Every path that gives a user records a holding limit counts locks the receiving user first
(``pools.services.lock_users``) and counts under that lock; transfers and imports naming
owners respect the limits of the records' groups as claims and assignments do. The race
tests release a claim and a transfer (or an import's apply) together with a barrier, on
PostgreSQL with real threads: whichever comes second is refused with the normal
holding-limit message, and the user never ends above the limit.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled

from crm import importing
from crm.exceptions import ServiceError
from crm.models import ImportJob
from crm.tenancy import tenant_scope
from customers import pooling, services
from customers.models import Customer
from customers.subjects import CUSTOMER
from leads import services as lead_services
from leads.models import Lead
from leads.subjects import LEAD
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.factories import make_user
from tests.leads.factories import make_lead, make_lead_pool
from tests.pools.factories import fresh_user, make_group, owned, pooled, set_rules
from tests.pools.test_concurrency import _run_threads

LIMIT = 3
ROUNDS = 4


def _held(user) -> int:
    with scopes_disabled():
        return Customer.objects.filter(owner=user, deleted_at__isnull=True).count()


def _holding_message(key: str, user, group) -> str:
    """The refusal a user at the limit gets (held = the limit, no room left)."""
    return CUSTOMER.message(key, user=user, held=LIMIT, group=group.name, limit=LIMIT, room=0)


# ---------------------------------------------------------------- the rule, one at a time


def test_transfer_refused_past_the_holding_limit_of_the_customers_group(world, scoped):
    group = make_group(world.tenant_a, "限持公海", departments=[world.east], holding_limit=LIMIT)
    for _ in range(LIMIT):
        owned(group, world.rep_east)
    given = owned(group, world.rep_west)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc_info:
        services.customer_transfer(actor=world.admin_a, customers=[given], to_user=world.rep_east)
    assert exc_info.value.code == "holding_limit"
    assert str(exc_info.value.message) == _holding_message(
        "holding_transfer", world.rep_east, group
    )
    with scopes_disabled():
        assert Customer.objects.get(pk=given.pk).owner_id == world.rep_west.pk


def test_transfer_within_the_limit_and_uncounted_customers_go_through(world, scoped):
    group = make_group(world.tenant_a, "限持公海", departments=[world.east], holding_limit=LIMIT)
    for _ in range(LIMIT - 1):
        owned(group, world.rep_east)
    given = owned(group, world.rep_west)
    # Signed customers are left out of the count where the group says so.
    signed = owned(group, world.rep_west, lifecycle=Customer.Lifecycle.SIGNED)
    unlimited = owned(make_group(world.tenant_a, "不限公海"), world.rep_west)
    with scoped(world.admin_a):
        services.customer_transfer(
            actor=world.admin_a, customers=[given, signed, unlimited], to_user=world.rep_east
        )
    assert _held(world.rep_east) == LIMIT + 2


def test_lead_transfer_refused_past_the_holding_limit_of_open_leads(world, scoped):
    group = make_lead_pool(world.tenant_a, "限持线索池", holding_limit=1)
    make_lead(world.tenant_a, world.rep_east, pool_group=group)
    given = make_lead(world.tenant_a, world.rep_west, pool_group=group)
    closed = make_lead(world.tenant_a, world.rep_west, pool_group=group, status=Lead.Status.CLOSED)
    with scoped(world.admin_a):
        with pytest.raises(ServiceError) as exc_info:
            lead_services.lead_transfer(actor=world.admin_a, leads=[given], to_user=world.rep_east)
        # A closed lead is done with: the limit does not count it.
        lead_services.lead_transfer(actor=world.admin_a, leads=[closed], to_user=world.rep_east)
    assert exc_info.value.code == "holding_limit"
    assert str(exc_info.value.message) == LEAD.message(
        "holding_transfer", user=world.rep_east, held=1, group=group.name, limit=1, room=0
    )
    with scopes_disabled():
        assert Lead.objects.get(pk=given.pk).owner_id == world.rep_west.pk
        assert Lead.objects.get(pk=closed.pk).owner_id == world.rep_east.pk


def _import_job(world, owner, names):
    rows = [[name, ""] for name in names]
    upload = SimpleUploadedFile("名单.xlsx", files.xlsx_bytes(["客户名称", "联系电话"], rows))
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_start(
            actor=world.admin_a,
            kind="customers",
            upload=upload,
            options={"target": "users", "users": [owner.pk]},
        )
    assert job.status == "previewed", job.summary
    return job


@pytest.fixture
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.usefixtures("_media")
def test_import_rows_past_the_owners_holding_limit_fail_with_a_message(world):
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer")
    set_rules(group, holding_limit=LIMIT)
    owned(group, world.rep_east)
    job = _import_job(world, world.rep_east, ["导入甲", "导入乙", "导入丙", "导入丁"])
    with tenant_scope(world.tenant_a.pk):
        job = importing.import_confirm(actor=world.admin_a, job=job)
    assert job.status == ImportJob.Status.DONE
    assert job.summary["created"] == LIMIT - 1
    assert job.summary["failed"] == 2
    assert _held(world.rep_east) == LIMIT
    message = CUSTOMER.message(
        "holding_import", user=world.rep_east, held=LIMIT, group=group.name, limit=LIMIT
    )
    assert [m for _row, m in job.summary["late_errors"]] == [message, message]


# ---------------------------------------------------------------- races (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_racing_a_transfer_never_leaves_the_user_above_the_limit(world):
    group = make_group(world.tenant_a, "抢客公海", departments=[world.east], holding_limit=LIMIT)
    admin = fresh_user(world.admin_a)
    _ = admin.permission_codes
    refusals = []
    for round_no in range(ROUNDS):
        rep = make_user(world.tenant_a, f"race_rep{round_no}", department=world.east)
        for _ in range(LIMIT - 1):
            owned(group, rep)
        given = owned(group, world.rep_west)
        free = pooled(group)
        claimer = fresh_user(rep)
        _ = claimer.permission_codes
        outcomes = {}

        def transfer(rep=rep, given=given, outcomes=outcomes):
            with tenant_scope(admin.tenant_id):
                try:
                    services.customer_transfer(actor=admin, customers=[given], to_user=rep)
                except ServiceError as exc:
                    outcomes["transfer"] = exc

        def claim(claimer=claimer, free=free, outcomes=outcomes):
            with tenant_scope(claimer.tenant_id):
                try:
                    pooling.customer_claim(actor=claimer, customers=[free])
                except ServiceError as exc:
                    outcomes["claim"] = exc

        assert _run_threads([transfer, claim]) == []
        assert _held(rep) == LIMIT, f"round {round_no}: {outcomes}"
        assert len(outcomes) == 1, f"round {round_no}: {outcomes}"
        [(loser, exc)] = outcomes.items()
        assert exc.code == "holding_limit"
        key = "holding_self" if loser == "claim" else "holding_transfer"
        assert str(exc.message) == _holding_message(key, rep, group)
        refusals.append(loser)
    assert len(refusals) == ROUNDS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_media")
def test_a_claim_racing_an_import_never_leaves_the_user_above_the_limit(world):
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer")
    set_rules(group, holding_limit=LIMIT)
    for round_no in range(ROUNDS):
        rep = make_user(world.tenant_a, f"import_rep{round_no}", department=world.east)
        for _ in range(LIMIT - 1):
            owned(group, rep)
        free = pooled(group)
        job = _import_job(world, rep, [f"导入客户{round_no}"])
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
                    pooling.customer_claim(actor=claimer, customers=[free])
                except ServiceError as exc:
                    outcomes["claim"] = exc

        assert _run_threads([apply, claim]) == []
        with scopes_disabled():
            job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE
        assert _held(rep) == LIMIT, f"round {round_no}: {outcomes} {job.summary}"
        if "claim" in outcomes:  # the import came first
            assert job.summary["created"] == 1
            assert outcomes["claim"].code == "holding_limit"
            assert str(outcomes["claim"].message) == _holding_message("holding_self", rep, group)
        else:  # the claim came first: the import's row failed with the limit's message
            assert job.summary["created"] == 0 and job.summary["failed"] == 1
            [[_row, message]] = job.summary["late_errors"]
            assert message == CUSTOMER.message(
                "holding_import", user=rep, held=LIMIT, group=group.name, limit=LIMIT
            )
