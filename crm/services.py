"""Every state change of the core: tenants, departments, users, roles, option lists,
notifications and numbering. One function each, keyword-only, acting user first,
transactional, writing the activity log."""

from __future__ import annotations

import datetime
import secrets
import zoneinfo
from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import activity, identity, permissions, rights
from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import (
    OPTION_CODES,
    DataScope,
    Delivery,
    Department,
    Notification,
    NumberSequence,
    Option,
    OptionKind,
    ReminderChannel,
    ReminderPreference,
    Role,
    Tenant,
    User,
    Webhook,
)
from crm.tenancy import tenant_scope
from crm.visibility import subordinate_ids

# ---------------------------------------------------------------- tenants

BUILTIN_ROLES = [
    # (builtin, name, data scope, permissions)
    (Role.Builtin.ADMIN, "管理员", DataScope.ALL, None),  # None: every permission
    (
        Role.Builtin.SALES_MANAGER,
        "销售经理",
        DataScope.DEPARTMENT_AND_BELOW,
        [
            "customer.export",
            "customer.transfer",
            "pool.manage",
            "lead.export",
            "lead.transfer",
            "lead.convert",
            "lead.manage",
            "approval.approve",
            "reports.view",
        ],
    ),
    (Role.Builtin.SALES_REP, "销售代表", DataScope.OWN, ["lead.convert"]),
    (Role.Builtin.AFTER_SALES, "售后专员", DataScope.OWN, []),
]

DEFAULT_OPTIONS: dict[str, list[str]] = {
    OptionKind.CUSTOMER_SOURCE: [
        "电话营销",
        "网络推广",
        "展会",
        "客户介绍",
        "主动来访",
        "广告",
        "其他",
    ],
    OptionKind.CUSTOMER_LEVEL: [
        "A（重点客户）",
        "B（普通客户）",
        "C（一般客户）",
        "D（低价值客户）",
    ],
    OptionKind.CUSTOMER_STATUS: ["新建", "意向", "预约", "有意向", "成交"],
    OptionKind.INDUSTRY: [
        "工程机械",
        "交通运输",
        "建筑施工",
        "矿山开采",
        "市政环卫",
        "农业",
        "制造业",
        "其他",
    ],
    OptionKind.FOLLOWUP_TYPE: ["电话", "拜访", "微信", "QQ", "邮件", "其他"],
    OptionKind.LOST_REASON: [
        "价格太高",
        "选择了竞争对手",
        "需求取消",
        "预算不足",
        "联系不上",
        "其他",
    ],
    OptionKind.ORDER_TYPE: ["整车", "配件", "二手车", "租赁"],
    OptionKind.POOL_RETURN_REASON: [
        "联系不上",
        "无购买意向",
        "已从他处购买",
        "信息错误",
        "重复客户",
        "其他",
    ],
    OptionKind.LEAD_CLOSE_REASON: [
        "信息无效",
        "无购买需求",
        "联系不上",
        "重复线索",
        "已选择竞争对手",
        "其他",
    ],
    OptionKind.CONTACT_ROLE: ["决策人", "采购", "技术评估", "使用人", "财务", "影响人", "其他"],
}


# Sent inside the new tenant's scope, once its roles and option lists exist.
tenant_created = Signal()


@transaction.atomic
def tenant_create(*, name: str, slug: str) -> Tenant:
    """A new company with its built-in roles and default option lists."""
    tenant = Tenant.objects.create(name=name, slug=slug)
    with tenant_scope(tenant.pk):
        for builtin, role_name, scope, codes in BUILTIN_ROLES:
            Role.objects.create(
                tenant=tenant,
                builtin=builtin,
                name=role_name,
                data_scope=scope,
                permissions=permissions.all_codes() if codes is None else codes,
            )
        codes = {kind: {v: k for k, v in c.items()} for kind, c in OPTION_CODES.items()}
        Option.objects.bulk_create(
            Option(
                tenant=tenant,
                kind=kind,
                label=label,
                sort_order=i,
                code=codes.get(kind, {}).get(label, ""),
            )
            for kind, labels in DEFAULT_OPTIONS.items()
            for i, label in enumerate(labels)
        )
        # Modules add their per-tenant defaults (the pools app: the default pool group).
        tenant_created.send(sender=Tenant, tenant=tenant)
    return tenant


def _require(actor: User, code: str) -> None:
    if not actor.can(code):
        raise PermissionRefusedError()


def _lock_tenant(actor: User, code: str) -> User:
    """SECURITY: serialise the tenant's user, role and department changes.

    Locks the actor's tenant row until the end of the transaction (``FOR NO KEY UPDATE`` on
    PostgreSQL: it does not block the foreign-key checks of other inserts in the tenant), so
    two admins' changes run one after the other: the "at least one user manager" guard and
    the department tree's paths are checked on what the other one committed, never on a
    stale read. Then the actor is read again, after the lock: an admin demoted or
    deactivated by the change that held the lock can no longer act (``PermissionRefusedError``).
    Returns that fresh actor, whose rights are the ones to compare with.
    """
    _require(actor, code)
    no_key = connection.features.has_select_for_no_key_update
    Tenant.objects.select_for_update(no_key=no_key).only("pk").get(pk=actor.tenant_id)
    fresh = User.tenant_objects.select_related("role").get(pk=actor.pk)
    _require(fresh, code)
    return fresh


def _reread(obj: models.Model) -> None:
    """Refresh ``obj`` from the database after the tenant lock; a row another admin deleted
    meanwhile is missing (a 404), never a server error."""
    try:
        obj.refresh_from_db()
    except obj.DoesNotExist as exc:
        raise NotFoundError() from exc


def require_same_tenant(actor: User, *objs: models.Model | None) -> None:
    """SECURITY: forward foreign keys bypass scopes, so services check that the rows they
    are handed belong to the actor's tenant; a foreign row is "missing", never forbidden:
    ``NotFoundError``, a 404 in every view (a view's ``except ServiceError`` lets it pass)."""
    for obj in objs:
        if obj is not None and obj.tenant_id != actor.tenant_id:
            raise NotFoundError(_("The record does not exist."), code="not_found")


# ---------------------------------------------------------------- departments


def _sibling_name_taken(
    tenant_id: int, parent: Department | None, name: str, exclude_pk: int | None = None
) -> bool:
    siblings = Department.objects.filter(tenant_id=tenant_id, parent=parent, name=name)
    if exclude_pk:
        siblings = siblings.exclude(pk=exclude_pk)
    return siblings.exists()


def _clean_department_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Enter a department name."), code="required")
    if len(name) > 50:
        raise ServiceError(_("A department name has at most 50 characters."), code="too_long")
    return name


@transaction.atomic
def department_create(
    *, actor: User, name: str, parent: Department | None = None, leader: User | None = None
) -> Department:
    _lock_tenant(actor, "settings.manage")
    require_same_tenant(actor, parent, leader)
    if parent is not None:  # its path as committed, after the lock (a move may have run)
        parent = Department.objects.get(pk=parent.pk)
    name = _clean_department_name(name)
    if parent is not None and not parent.is_active:
        raise ServiceError(
            _("A department cannot be added under a disabled department."), code="parent_disabled"
        )
    if leader is not None and not leader.is_active:
        raise ServiceError(_("A deactivated user cannot head a department."), code="inactive")
    if _sibling_name_taken(actor.tenant_id, parent, name):
        raise ServiceError(
            _("A department with this name already exists at this level."), code="duplicate"
        )
    dept = Department.objects.create(
        tenant_id=actor.tenant_id, name=name, parent=parent, leader=leader
    )
    dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
    dept.save(update_fields=["path"])
    activity.activity_record(
        actor=actor,
        target=dept,
        action=activity.DEPARTMENT_CREATED,
        changes={"parent": ["", str(parent)]} if parent else None,
    )
    return dept


@transaction.atomic
def department_update(
    *, actor: User, department: Department, name: str, leader: User | None
) -> Department:
    """Rename a department and/or change its head."""
    _lock_tenant(actor, "settings.manage")
    require_same_tenant(actor, department, leader)
    department.refresh_from_db()
    name = _clean_department_name(name)
    if _sibling_name_taken(actor.tenant_id, department.parent, name, exclude_pk=department.pk):
        raise ServiceError(
            _("A department with this name already exists at this level."), code="duplicate"
        )
    if leader is not None and not leader.is_active:
        raise ServiceError(_("A deactivated user cannot head a department."), code="inactive")
    before = activity.snapshot(department, ["name", "leader"])
    department.name = name
    department.leader = leader
    department.save(update_fields=["name", "leader"])
    changes = activity.diff(before, activity.snapshot(department, ["name", "leader"]))
    if changes:
        activity.activity_record(
            actor=actor, target=department, action=activity.DEPARTMENT_RENAMED, changes=changes
        )
    return department


@transaction.atomic
def department_move(
    *, actor: User, department: Department, parent: Department | None
) -> Department:
    """Put a department (with its whole subtree) under another parent, or at the top.

    SECURITY: the tenant lock (``_lock_tenant``) makes concurrent moves run one after the
    other, and both rows are read after it: two crossing moves (A under B, B under A) cannot
    both pass the cycle check, and no move rewrites paths from a stale parent path.
    """
    _lock_tenant(actor, "settings.manage")
    require_same_tenant(actor, department, parent)
    department = Department.objects.get(pk=department.pk)
    if parent is not None:
        parent = Department.objects.get(pk=parent.pk)
        if parent.path.startswith(department.path):
            raise ServiceError(
                _("A department cannot be moved under itself or one of its sub-departments."),
                code="cycle",
            )
        if not parent.is_active:
            raise ServiceError(
                _("A department cannot be moved under a disabled department."),
                code="parent_disabled",
            )
    if department.parent_id == (parent.pk if parent else None):
        return department
    if _sibling_name_taken(actor.tenant_id, parent, department.name, exclude_pk=department.pk):
        raise ServiceError(
            _("A department with this name already exists at this level."), code="duplicate"
        )
    before = str(department.parent or "")
    old_path = department.path
    new_path = f"{parent.path if parent else '/'}{department.pk}/"
    # PERF: one UPDATE rewrites the whole subtree's paths.
    Department.objects.filter(tenant_id=actor.tenant_id, path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr(F("path"), len(old_path) + 1))
    )
    Department.objects.filter(pk=department.pk).update(parent=parent)
    department.refresh_from_db()
    activity.activity_record(
        actor=actor,
        target=department,
        action=activity.DEPARTMENT_MOVED,
        changes={"parent": [before, str(parent or "")]},
    )
    return department


@transaction.atomic
def department_set_active(*, actor: User, department: Department, active: bool) -> Department:
    """Disable (refused while it has active members or sub-departments) or enable."""
    _lock_tenant(actor, "settings.manage")
    require_same_tenant(actor, department)
    department.refresh_from_db()
    if department.is_active == active:
        return department
    if not active:
        if User.tenant_objects.filter(
            tenant_id=actor.tenant_id, department=department, is_active=True
        ).exists():
            raise ServiceError(
                _("Move or deactivate the department's active users first."), code="has_users"
            )
        if Department.objects.filter(
            tenant_id=actor.tenant_id, parent=department, is_active=True
        ).exists():
            raise ServiceError(_("Disable its sub-departments first."), code="has_children")
    elif department.parent is not None and not department.parent.is_active:
        raise ServiceError(_("Enable the parent department first."), code="parent_disabled")
    department.is_active = active
    department.save(update_fields=["is_active"])
    activity.activity_record(
        actor=actor,
        target=department,
        action=activity.DEPARTMENT_ENABLED if active else activity.DEPARTMENT_DISABLED,
    )
    return department


# ---------------------------------------------------------------- users

USER_FIELDS = ["username", "name", "mobile", "email", "title", "department", "role", "manager"]


def _generate_password() -> str:
    # Readable but strong: no look-alike characters.
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _i in range(12))


def _check_user_links(actor: User, user: User | None, department, role, manager) -> None:
    require_same_tenant(actor, department, role, manager)
    unchanged = user is not None and user.department_id == getattr(department, "pk", None)
    if department is not None and not department.is_active and not unchanged:
        raise ServiceError(_("The department is disabled."), code="department_disabled")
    if manager is not None:
        if not manager.is_active:
            raise ServiceError(_("A deactivated user cannot be a manager."), code="inactive")
        # The reporting lines, not the data scope: a cycle is a cycle whatever the role.
        if (
            user is not None
            and user.pk
            and (manager.pk == user.pk or manager.pk in subordinate_ids(user))
        ):
            raise ServiceError(
                _("A user cannot report to themselves or to one of their own subordinates."),
                code="cycle",
            )


def _refuse_role_beyond_own_rights(me: User, role: Role | None) -> None:
    """SECURITY: a user manager gives only a role within their own rights (crm.rights)."""
    if rights.role_exceeds(me, role):
        raise ServiceError(
            _(
                "You cannot give the role %(role)s: it holds permissions or a data scope "
                "that you do not have yourself."
            )
            % {"role": role},
            code="role_exceeds_own_rights",
        )


def _refuse_user_above_own_rights(me: User, user: User) -> None:
    """SECURITY: a user whose role holds more than the actor's is managed by someone who
    holds at least as much: no edit, deactivation or password reset by the actor."""
    if rights.user_outranks(me, user):
        raise ServiceError(
            _(
                "%(name)s has permissions or a data scope that you do not have; only a user "
                "who holds them may change this account."
            )
            % {"name": user},
            code="user_outranks_actor",
        )


def _fresh_role(role: Role | None) -> Role | None:
    """The role as committed (read after the tenant lock): its rights decide."""
    if role is None:
        return None
    try:
        return Role.objects.get(pk=role.pk)
    except Role.DoesNotExist as exc:  # deleted by another admin meanwhile
        raise NotFoundError() from exc


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    name: str,
    mobile: str | None = None,
    email: str = "",
    title: str = "",
    department: Department | None = None,
    role: Role | None = None,
    manager: User | None = None,
    password: str | None = None,
) -> tuple[User, str]:
    """Create a user in the actor's tenant; returns the user and the initial password
    (generated when none is given, shown once to the admin; the user must then change it at
    the first sign-in). The role must lie within the actor's own rights."""
    me = _lock_tenant(actor, "users.manage")
    _check_user_links(actor, None, department, role, manager)
    role = _fresh_role(role)
    _refuse_role_beyond_own_rights(me, role)
    username, mobile_value = identity.clean_identity(
        tenant_id=actor.tenant_id, username=username, mobile=mobile
    )
    user = User(
        tenant_id=actor.tenant_id,
        username=username,
        name=(name or "").strip(),
        mobile=mobile_value,
        email=(email or "").strip(),
        title=title or "",
        department=department,
        role=role,
        manager=manager,
        # SECURITY: a generated password was seen by the admin: the user replaces it.
        must_change_password=not password,
    )
    password = password or _generate_password()
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), code="weak_password") from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent create took the name or mobile
        raise ServiceError(
            _("This username or mobile number is already taken."), code="taken"
        ) from exc
    activity.activity_record(
        actor=actor,
        target=user,
        action=activity.USER_CREATED,
        changes=activity.diff({}, activity.snapshot(user, USER_FIELDS)),
    )
    return user, password


def _manages_users(role: Role | None) -> bool:
    return role is not None and "users.manage" in role.permissions


def _keep_a_user_manager(
    tenant_id: int, *, losing_user: User | None = None, losing_role: Role | None = None
) -> None:
    """Lock-out guard: refuse a change after which no active user could manage users.

    SECURITY: race-safe only under the tenant lock (``_lock_tenant``), which every service
    that can take the right away holds before calling it: two admins demoting each other at
    the same moment run one after the other, and the second sees the first's change."""
    role_ids = [
        r.pk
        for r in Role.objects.filter(tenant_id=tenant_id)
        if _manages_users(r) and r != losing_role
    ]
    holders = User.tenant_objects.filter(tenant_id=tenant_id, is_active=True, role_id__in=role_ids)
    if losing_user is not None:
        holders = holders.exclude(pk=losing_user.pk)
    if not holders.exists():
        raise ServiceError(
            _("At least one active user must keep the permission to manage users."),
            code="last_admin",
        )


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    username: str,
    name: str,
    mobile: str | None,
    email: str,
    title: str,
    department: Department | None,
    role: Role | None,
    manager: User | None,
) -> User:
    """Change a user's account. Refused for a user with more rights than the actor, and for
    a role beyond the actor's own rights; the last user manager keeps the right."""
    me = _lock_tenant(actor, "users.manage")
    require_same_tenant(actor, user)
    _reread(user)
    _refuse_user_above_own_rights(me, user)
    _check_user_links(actor, user, department, role, manager)
    role = _fresh_role(role)
    if role is not None and role.pk != user.role_id:
        _refuse_role_beyond_own_rights(me, role)
    username, mobile_value = identity.clean_identity(
        tenant_id=user.tenant_id, username=username, mobile=mobile, exclude_pk=user.pk
    )
    if user.is_active and _manages_users(user.role) and not _manages_users(role):
        _keep_a_user_manager(actor.tenant_id, losing_user=user)
    before = activity.snapshot(user, USER_FIELDS)
    role_changed = user.role_id != (role.pk if role else None)
    user.username, user.name, user.mobile = username, (name or "").strip(), mobile_value
    user.email, user.title = (email or "").strip(), title or ""
    user.department, user.role, user.manager = department, role, manager
    user.save()
    changes = activity.diff(before, activity.snapshot(user, USER_FIELDS))
    if changes:
        activity.activity_record(
            actor=actor, target=user, action=activity.USER_UPDATED, changes=changes
        )
    if role_changed and user.pk != actor.pk:
        notification_send(
            tenant_id=actor.tenant_id,
            recipients=[user],
            title=_("Your role is now %(role)s") % {"role": role or "—"},
        )
    return user


@transaction.atomic
def user_set_active(*, actor: User, user: User, active: bool) -> User:
    """Deactivate (cannot log in, gets no new work) or reactivate a user. Refused for a user
    with more rights than the actor; the last user manager stays active."""
    me = _lock_tenant(actor, "users.manage")
    require_same_tenant(actor, user)
    _reread(user)
    if user.is_active == active:
        return user
    _refuse_user_above_own_rights(me, user)
    if not active:
        if user.pk == actor.pk:
            raise ServiceError(_("You cannot deactivate yourself."), code="self")
        if _manages_users(user.role):
            _keep_a_user_manager(actor.tenant_id, losing_user=user)
    elif user.department is not None and not user.department.is_active:
        raise ServiceError(
            _("The user's department is disabled; choose another department first."),
            code="department_disabled",
        )
    user.is_active = active
    user.save(update_fields=["is_active"])
    activity.activity_record(
        actor=actor,
        target=user,
        action=activity.USER_ACTIVATED if active else activity.USER_DEACTIVATED,
    )
    return user


@transaction.atomic
def user_reset_password(*, actor: User, user: User) -> str:
    """A new random password for ``user``, returned once; the user is notified and must
    choose a new password at the next sign-in (``must_change_password``, enforced by
    ``crm.middleware.PasswordChangeRequiredMiddleware``). Refused for a user with more
    rights than the actor. Changing the password ends the user's open sessions."""
    me = _lock_tenant(actor, "users.manage")
    require_same_tenant(actor, user)
    _reread(user)
    _refuse_user_above_own_rights(me, user)
    password = _generate_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    activity.activity_record(actor=actor, target=user, action=activity.USER_PASSWORD_RESET)
    if user.pk != actor.pk:
        notification_send(
            tenant_id=actor.tenant_id,
            recipients=[user],
            title=_("Your password was reset by %(name)s") % {"name": actor},
        )
    return password


@transaction.atomic
def user_change_own_password(*, actor: User, old_password: str, new_password: str) -> User:
    """The actor chooses a new password; this clears ``must_change_password``."""
    if not actor.check_password(old_password):
        raise ServiceError(_("The current password is not correct."), code="wrong_password")
    if new_password == old_password:
        raise ServiceError(
            _("Choose a new password that differs from the current one."), code="same_password"
        )
    try:
        validate_password(new_password, actor)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), code="weak_password") from exc
    actor.set_password(new_password)
    actor.must_change_password = False
    actor.save(update_fields=["password", "must_change_password"])
    activity.activity_record(actor=actor, target=actor, action=activity.USER_PASSWORD_CHANGED)
    return actor


def assignable_users(tenant_id: int):
    """Users who may receive new work: active members of the tenant."""
    return User.tenant_objects.filter(tenant_id=tenant_id, is_active=True).order_by("name", "id")


# ---------------------------------------------------------------- roles


def _clean_role(
    me: User, name: str, codes: Iterable[str], data_scope: str
) -> tuple[str, list[str]]:
    """The role's name and codes, checked; SECURITY: only codes the actor holds and a data
    scope no wider than theirs (crm.rights)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Enter a role name."), code="required")
    codes = list(dict.fromkeys(codes))
    unknown = [c for c in codes if c not in permissions.all_codes()]
    if unknown:
        raise ServiceError(
            _("Unknown permission: %(codes)s") % {"codes": ", ".join(unknown)},
            code="unknown_permission",
        )
    if data_scope not in DataScope.values:
        raise ServiceError(_("Choose a data scope."), code="data_scope")
    lacking = rights.missing_codes(me, codes)
    if lacking:
        raise ServiceError(
            _("You cannot give permissions that you do not have yourself: %(permissions)s")
            % {"permissions": ", ".join(str(permissions.label(c)) for c in lacking)},
            code="exceeds_own_rights",
        )
    if rights.scope_exceeds(me, data_scope):
        raise ServiceError(
            _("You cannot give a data scope wider than your own (%(scope)s).")
            % {"scope": DataScope(me.data_scope).label},
            code="exceeds_own_scope",
        )
    return name, codes


def _role_snapshot(role: Role) -> dict[str, str]:
    return {
        "name": role.name,
        "permissions": ", ".join(map(str, role.permission_labels())),
        "data_scope": str(role.get_data_scope_display()),
        "description": role.description,
    }


def _refuse_role_above_own_rights(me: User, role: Role) -> None:
    if rights.role_exceeds(me, role):
        raise ServiceError(
            _(
                "The role %(role)s holds permissions or a data scope that you do not have; "
                "only a user who holds them may change it."
            )
            % {"role": role},
            code="role_outranks_actor",
        )


@transaction.atomic
def role_create(
    *,
    actor: User,
    name: str,
    permission_codes: Iterable[str],
    data_scope: str,
    description: str = "",
) -> Role:
    me = _lock_tenant(actor, "users.manage")
    name, codes = _clean_role(me, name, permission_codes, data_scope)
    if Role.objects.filter(tenant_id=actor.tenant_id, name=name).exists():
        raise ServiceError(_("A role with this name already exists."), code="duplicate")
    role = Role.objects.create(
        tenant_id=actor.tenant_id,
        name=name,
        permissions=codes,
        data_scope=data_scope,
        description=description or "",
    )
    activity.activity_record(actor=actor, target=role, action=activity.ROLE_CREATED)
    return role


@transaction.atomic
def role_update(
    *,
    actor: User,
    role: Role,
    name: str,
    permission_codes: Iterable[str],
    data_scope: str,
    description: str = "",
) -> Role:
    """Change a role. Refused for a role holding more than the actor's own rights, and for
    codes or a data scope beyond them; the last user manager keeps the right."""
    me = _lock_tenant(actor, "users.manage")
    require_same_tenant(actor, role)
    _reread(role)
    _refuse_role_above_own_rights(me, role)
    name, codes = _clean_role(me, name, permission_codes, data_scope)
    if Role.objects.filter(tenant_id=actor.tenant_id, name=name).exclude(pk=role.pk).exists():
        raise ServiceError(_("A role with this name already exists."), code="duplicate")
    if _manages_users(role) and "users.manage" not in codes:
        _keep_a_user_manager(actor.tenant_id, losing_role=role)
    before = _role_snapshot(role)
    role.name, role.permissions, role.data_scope = name, codes, data_scope
    role.description = description or ""
    role.save()
    changes = activity.diff(before, _role_snapshot(role))
    if changes:
        activity.activity_record(
            actor=actor, target=role, action=activity.ROLE_UPDATED, changes=changes
        )
    return role


@transaction.atomic
def role_delete(*, actor: User, role: Role) -> None:
    me = _lock_tenant(actor, "users.manage")
    require_same_tenant(actor, role)
    _reread(role)
    _refuse_role_above_own_rights(me, role)
    if User.tenant_objects.filter(tenant_id=actor.tenant_id, role=role).exists():
        raise ServiceError(
            _("The role is still given to users; give them another role first."), code="in_use"
        )
    if role.builtin == Role.Builtin.ADMIN:
        raise ServiceError(_("The administrator role cannot be deleted."), code="builtin")
    activity.activity_record(actor=actor, target=role, action=activity.ROLE_DELETED)
    role.delete()


# ---------------------------------------------------------------- option lists


def _clean_label(label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise ServiceError(_("Enter a label."), code="required")
    if len(label) > 50:
        raise ServiceError(_("A label has at most 50 characters."), code="too_long")
    return label


@transaction.atomic
def option_create(*, actor: User, kind: str, label: str) -> Option:
    _require(actor, "settings.manage")
    if kind not in OptionKind.values:
        raise ServiceError(_("Unknown option list."), code="kind")
    label = _clean_label(label)
    existing = Option.objects.filter(tenant_id=actor.tenant_id, kind=kind)
    taken = _("This option already exists in the list.")
    if existing.filter(label=label).exists():
        raise ServiceError(taken, code="duplicate")
    last = existing.aggregate(m=models.Max("sort_order"))["m"]
    with refused_if_taken(taken):
        option = Option.objects.create(
            tenant_id=actor.tenant_id,
            kind=kind,
            label=label,
            sort_order=0 if last is None else last + 1,
        )
    activity.activity_record(actor=actor, target=option, action=activity.OPTION_CREATED)
    return option


@transaction.atomic
def option_update(*, actor: User, option: Option, label: str, is_active: bool) -> Option:
    """Rename or (de)activate an option. Options are never deleted: records keep theirs."""
    _require(actor, "settings.manage")
    require_same_tenant(actor, option)
    label = _clean_label(label)
    if (
        Option.objects.filter(tenant_id=actor.tenant_id, kind=option.kind, label=label)
        .exclude(pk=option.pk)
        .exists()
    ):
        raise ServiceError(_("This option already exists in the list."), code="duplicate")
    before = activity.snapshot(option, ["label", "is_active"])
    option.label, option.is_active = label, is_active
    with refused_if_taken(_("This option already exists in the list.")):
        option.save(update_fields=["label", "is_active"])
    changes = activity.diff(before, activity.snapshot(option, ["label", "is_active"]))
    if changes:
        activity.activity_record(
            actor=actor, target=option, action=activity.OPTION_UPDATED, changes=changes
        )
    return option


@transaction.atomic
def option_move(*, actor: User, option: Option, offset: int) -> Option:
    """Move an option up (-1) or down (+1) in its list."""
    _require(actor, "settings.manage")
    require_same_tenant(actor, option)
    siblings = list(
        Option.objects.filter(tenant_id=actor.tenant_id, kind=option.kind).order_by(
            "sort_order", "id"
        )
    )
    index = next(i for i, o in enumerate(siblings) if o.pk == option.pk)
    target = index + offset
    if 0 <= target < len(siblings):
        siblings[index], siblings[target] = siblings[target], siblings[index]
        for i, o in enumerate(siblings):
            o.sort_order = i
        Option.objects.bulk_update(siblings, ["sort_order"])
        option.sort_order = target
        activity.activity_record(
            actor=actor,
            target=option,
            action=activity.OPTION_UPDATED,
            changes={"sort_order": [str(index + 1), str(target + 1)]},
        )
    return option


# ---------------------------------------------------------------- notifications


def notification_send(
    *, tenant_id: int, recipients: Iterable[User], title: str, body: str = "", link: str = ""
) -> list[Notification]:
    """One notification per active recipient of the tenant (deactivated users get none)."""
    rows = [
        Notification(tenant_id=tenant_id, recipient=u, title=str(title)[:200], body=body, link=link)
        for u in recipients
        if u.is_active and u.tenant_id == tenant_id
    ]
    return Notification.objects.bulk_create(rows)


def notification_mark_read(*, actor: User, ids: Iterable[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them when ``ids`` is None)."""
    qs = Notification.objects.filter(
        tenant_id=actor.tenant_id, recipient=actor, read_at__isnull=True
    )
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=timezone.now())


# ---------------------------------------------------------------- numbering

PREFIX_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def number_next(*, tenant_id: int, prefix: str, day: datetime.date | None = None) -> str:
    """The next document number, e.g. ``HT20261122-0001``: per tenant, prefix and day.

    One atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement (PostgreSQL and
    SQLite ≥ 3.35): the row lock it takes makes concurrent callers queue, so no number is
    ever handed out twice; a rolled-back caller's increment is rolled back with it.
    """
    if not prefix or len(prefix) > 8 or not set(prefix) <= PREFIX_CHARS:
        raise ValueError(f"bad number prefix {prefix!r}")
    day = day or timezone.localdate()
    table = connection.ops.quote_name(NumberSequence._meta.db_table)
    # SECURITY: only the quoted table name is interpolated; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (tenant_id, prefix, day, last_value) VALUES (%s, %s, %s, 1) "  # noqa: S608
        f"ON CONFLICT (tenant_id, prefix, day) DO UPDATE SET last_value = {table}.last_value + 1 "
        "RETURNING last_value"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id, prefix, connection.ops.adapt_datefield_value(day)])
        value = cursor.fetchone()[0]
    return f"{prefix}{day:%Y%m%d}-{value:04d}"


# ---- reminder settings (issue 18)
# A user's own reminder preferences and group-bot webhook, the tenant's reminder settings and
# department webhooks (settings.manage), and sending a failed delivery again.

REMINDER_PREFERENCE_UPDATED = activity.register_action(
    "reminder_preference.updated",
    gettext_lazy("changed their reminder settings"),
    fields={"off": gettext_lazy("Reminders turned off")},
)
TENANT_REMINDERS_UPDATED = activity.register_action(
    "tenant.reminders_updated", gettext_lazy("changed the reminder settings of")
)
WEBHOOK_SAVED = activity.register_action(
    "webhook.saved",
    gettext_lazy("saved the group bot"),
    fields={"department": gettext_lazy("Department"), "user": gettext_lazy("User")},
)
WEBHOOK_DELETED = activity.register_action(
    "webhook.deleted",
    gettext_lazy("removed the group bot"),
    fields={"department": gettext_lazy("Department"), "user": gettext_lazy("User")},
    plain=True,
)
DELIVERY_RETRIED = activity.register_action(
    "delivery.retried", gettext_lazy("queued a failed delivery again")
)

ESCALATION_DAYS_MAX = 30


def reminder_off_labels(off: Iterable[str]) -> str:
    """``off``'s "kind:channel" strings as a person reads them (the activity log)."""
    from crm import reminders

    kinds = {k.key: k.label for k in reminders.kinds()}
    channels = dict(ReminderChannel.choices)
    words = []
    for item in sorted(off):
        kind, _sep, channel = item.partition(":")
        words.append(f"{kinds.get(kind, kind)} · {channels.get(channel, channel)}")
    return "、".join(words)


def _preference_snapshot(pref: ReminderPreference) -> dict[str, str]:
    """What the activity log shows of a preference: times as 22:00, the pairs turned off by
    name."""
    return {
        "minutes_before": str(pref.minutes_before),
        "quiet_start": pref.quiet_start.strftime("%H:%M") if pref.quiet_start else "",
        "quiet_end": pref.quiet_end.strftime("%H:%M") if pref.quiet_end else "",
        "off": reminder_off_labels(pref.off) if pref.pk else "",
    }


@transaction.atomic
def reminder_preference_save(
    *,
    actor: User,
    minutes_before: int,
    quiet_start: datetime.time | None,
    quiet_end: datetime.time | None,
    off: Iterable[str],
) -> ReminderPreference:
    """Save the actor's own reminder preferences (a user never changes another's).

    ``off``: the "kind:channel" pairs turned off; every other pair is on. Quiet hours are
    both ends or neither (none: webhook pushes go out at any hour); they may span midnight.
    """
    from crm import reminders

    if minutes_before not in ReminderPreference.MINUTES_CHOICES:
        raise ServiceError(_("Choose one of the offered numbers of minutes."), code="minutes")
    if (quiet_start is None) != (quiet_end is None):
        raise ServiceError(
            _("Give both the start and the end of the quiet hours, or neither."), code="quiet"
        )
    if quiet_start is not None and quiet_start == quiet_end:
        raise ServiceError(
            _("The quiet hours must start and end at different times."), code="quiet"
        )
    valid = {f"{k.key}:{c}" for k in reminders.kinds() for c in ReminderChannel.values}
    off = sorted(set(off))
    if set(off) - valid:
        raise ServiceError(_("Unknown reminder or channel."), code="off")
    pref = (
        ReminderPreference.objects.select_for_update()
        .filter(tenant_id=actor.tenant_id, user=actor)
        .first()
    )
    if pref is None:
        pref = ReminderPreference(tenant_id=actor.tenant_id, user=actor)
    before = _preference_snapshot(pref)
    pref.minutes_before = minutes_before
    pref.quiet_start, pref.quiet_end = quiet_start, quiet_end
    pref.off = off
    if pref.pk:
        pref.save()
    else:
        # A second save of the same user at the same moment meets the one-to-one key.
        with refused_if_taken(_("Your reminder settings were just saved: try again.")):
            pref.save()
    changes = activity.diff(before, _preference_snapshot(pref))
    if changes:
        activity.activity_record(
            actor=actor, target=pref, action=REMINDER_PREFERENCE_UPDATED, changes=changes
        )
    return pref


@transaction.atomic
def tenant_reminder_settings_save(*, actor: User, escalation_days: int, time_zone: str) -> Tenant:
    """The tenant's reminder settings: after how many days an overdue follow-up also goes to
    the owner's manager (0: never) and the time zone of its clock (the 08:30 digest, quiet
    hours)."""
    _require(actor, "settings.manage")
    if not 0 <= escalation_days <= ESCALATION_DAYS_MAX:
        raise ServiceError(
            _("Enter a number of days from 0 (off) to %(max)d.") % {"max": ESCALATION_DAYS_MAX},
            code="days",
        )
    if time_zone not in zoneinfo.available_timezones():
        raise ServiceError(_("Choose a time zone from the list."), code="time_zone")
    tenant = Tenant.objects.select_for_update().get(pk=actor.tenant_id)
    fields = ["followup_overdue_escalation_days", "time_zone"]
    before = activity.snapshot(tenant, fields)
    tenant.followup_overdue_escalation_days = escalation_days
    tenant.time_zone = time_zone
    tenant.save(update_fields=fields)
    changes = activity.diff(before, activity.snapshot(tenant, fields))
    if changes:
        # The tenant row is its own tenant; the activity log reads the target's tenant_id.
        tenant.tenant_id = tenant.pk
        activity.activity_record(
            actor=actor, target=tenant, action=TENANT_REMINDERS_UPDATED, changes=changes
        )
    return tenant


def _webhook_owner_check(
    actor: User, owner_user: User | None, department: Department | None
) -> None:
    if (owner_user is None) == (department is None):
        raise ValueError("a webhook belongs to a user or to a department")
    if department is not None:
        _require(actor, "settings.manage")
        require_same_tenant(actor, department)
    # SECURITY: a user's webhook is only ever their own, whatever their rights.
    elif owner_user.pk != actor.pk:
        raise PermissionRefusedError()


def _webhook_snapshot(webhook: Webhook) -> dict[str, str]:
    data = activity.snapshot(webhook, ["provider", "is_active"])
    data["url"] = webhook.masked_url if webhook.url else ""
    return data


@transaction.atomic
def webhook_save(
    *,
    actor: User,
    owner_user: User | None = None,
    department: Department | None = None,
    provider: str,
    url: str,
    secret: str,
    is_active: bool = True,
) -> Webhook:
    """Save the group-bot webhook of ``owner_user`` (the actor themself) or of
    ``department`` (settings.manage): one per user and one per department, so this creates
    it or replaces the saved one. The address is checked by ``crm.webhooks.validate_url``
    (provider's host, https, no private address). A blank ``secret`` keeps the saved one.
    SECURITY: the secret never reaches the activity log (nor the page: it is write-only)."""
    from crm import webhooks

    _webhook_owner_check(actor, owner_user, department)
    if provider not in Webhook.Provider.values:
        raise ServiceError(_("Choose a group bot provider."), code="provider")
    url = (url or "").strip()
    secret = (secret or "").strip()
    if not url:
        raise ServiceError(_("Enter the webhook address."), code="url")
    if len(url) > 500:
        raise ServiceError(_("A webhook address has at most 500 characters."), code="url")
    if len(secret) > 200:
        raise ServiceError(_("A signing secret has at most 200 characters."), code="secret")
    try:
        webhooks.validate_url(provider, url)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), code="url") from exc
    owner = {"user": owner_user} if owner_user is not None else {"department": department}
    webhook = Webhook.objects.select_for_update().filter(tenant_id=actor.tenant_id, **owner).first()
    created = webhook is None
    if created:
        webhook = Webhook(tenant_id=actor.tenant_id, **owner)
    before = _webhook_snapshot(webhook) if not created else {}
    webhook.provider, webhook.url, webhook.is_active = provider, url, is_active
    secret_changed = bool(secret) and secret != webhook.secret
    if secret:
        webhook.secret = secret
    with refused_if_taken(_("This group bot was just saved by someone else: try again.")):
        webhook.save()
    changes = activity.diff(before, _webhook_snapshot(webhook))
    if created:
        changes["department" if department is not None else "user"] = [
            "",
            str(department if department is not None else owner_user),
        ]
    if secret_changed:
        changes["secret"] = ["***", "***"]
    if changes:
        activity.activity_record(actor=actor, target=webhook, action=WEBHOOK_SAVED, changes=changes)
    return webhook


@transaction.atomic
def webhook_delete(*, actor: User, webhook: Webhook) -> None:
    """Remove a group-bot webhook: the actor's own, or a department's (settings.manage). Its
    delivery log rows stay (their webhook becomes empty; the address they went to stays)."""
    require_same_tenant(actor, webhook)
    _webhook_owner_check(
        actor,
        webhook.user if webhook.user_id else None,
        webhook.department if webhook.department_id else None,
    )
    owner = webhook.department if webhook.department_id else webhook.user
    activity.activity_record(
        actor=actor,
        target=webhook,
        action=WEBHOOK_DELETED,
        changes={"department" if webhook.department_id else "user": ["", str(owner)]},
    )
    webhook.delete()


@transaction.atomic
def delivery_retry(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a failed delivery again now: it becomes pending, due at once, with a fresh series
    of attempts, and the sender is queued after the commit (crm.deliveries). Only a failed
    delivery: a pending one is on its way and a sent one arrived."""
    from crm import deliveries

    _require(actor, "settings.manage")
    require_same_tenant(actor, delivery)
    try:
        delivery = Delivery.objects.select_for_update().get(
            tenant_id=actor.tenant_id, pk=delivery.pk
        )
    except Delivery.DoesNotExist as exc:
        raise NotFoundError() from exc
    if delivery.status != Delivery.Status.FAILED:
        raise ServiceError(_("Only a failed delivery can be sent again."), code="not_failed")
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.attempts = 0  # a fresh series of attempts with their backoff
    delivery.save(update_fields=["status", "next_attempt_at", "attempts"])
    activity.activity_record(actor=actor, target=delivery, action=DELIVERY_RETRIED)
    deliveries.schedule_send(actor.tenant_id)
    return delivery
