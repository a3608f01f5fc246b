"""Demo data: two tenants with departments, roles and users (every password ``tidepool``).

Idempotent: a tenant that exists already is left as it is, so a second ``make run`` keeps
what users changed. Later modules add their records through :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django_scopes import scopes_disabled

from crm import services
from crm.models import Role, Tenant, User
from crm.tenancy import tenant_scope

DEMO_PASSWORD = "tidepool"

_EXTENSIONS: list[Callable[[Tenant, dict[str, User]], None]] = []


def register(loader: Callable[[Tenant, dict[str, User]], None]):
    """Modules add their demo records: ``loader(tenant, users_by_username)``."""
    _EXTENSIONS.append(loader)
    return loader


def _role(tenant: Tenant, builtin: str) -> Role:
    return Role.objects.get(tenant=tenant, builtin=builtin)


def _email(tenant: Tenant, username: str) -> str:
    """Demo addresses (reserved .example domain): the 08:30 reminder digest of ``make run``
    goes to them, printed on the worker's console."""
    return f"{username}@{tenant.slug}.example.com"


def _bootstrap_admin(tenant: Tenant, username: str, name: str, mobile: str) -> User:
    """The first user of a tenant has to exist before any service can act."""
    user = User(
        tenant=tenant,
        username=username,
        name=name,
        mobile=mobile,
        email=_email(tenant, username),
        role=_role(tenant, Role.Builtin.ADMIN),
    )
    user.set_password(DEMO_PASSWORD)
    user.save()
    return user


def _user(
    admin: User,
    username: str,
    name: str,
    mobile: str,
    department,
    builtin: str,
    manager: User | None = None,
    title: str = "",
) -> User:
    user, _pw = services.user_create(
        actor=admin,
        username=username,
        name=name,
        mobile=mobile,
        email=_email(admin.tenant, username),
        title=title,
        department=department,
        role=_role(admin.tenant, builtin),
        manager=manager,
        password=DEMO_PASSWORD,
    )
    return user


def load_demo_tenant() -> Tenant:
    tenant = services.tenant_create(name="演示科技有限公司", slug="demo")
    with tenant_scope(tenant.pk):
        admin = _bootstrap_admin(tenant, "admin", "王总", "13800000001")
        head = services.department_create(actor=admin, name="总经办")
        sales = services.department_create(actor=admin, name="销售部", parent=head)
        sales1 = services.department_create(actor=admin, name="销售一部", parent=sales)
        sales2 = services.department_create(actor=admin, name="销售二部", parent=sales)
        service = services.department_create(actor=admin, name="售后部")
        admin.department = head
        admin.title = "总经理"
        admin.save(update_fields=["department", "title"])
        manager = _user(
            admin,
            "manager1",
            "李经理",
            "13800000002",
            sales,
            Role.Builtin.SALES_MANAGER,
            admin,
            "销售经理",
        )
        services.department_update(actor=admin, department=sales, name=sales.name, leader=manager)
        users = {
            "admin": admin,
            "manager1": manager,
            "rep1": _user(
                admin,
                "rep1",
                "张伟",
                "13800000003",
                sales1,
                Role.Builtin.SALES_REP,
                manager,
                "销售代表",
            ),
            "rep2": _user(
                admin,
                "rep2",
                "刘洋",
                "13800000004",
                sales1,
                Role.Builtin.SALES_REP,
                manager,
                "销售代表",
            ),
            "rep3": _user(
                admin,
                "rep3",
                "陈静",
                "13800000005",
                sales2,
                Role.Builtin.SALES_REP,
                manager,
                "销售代表",
            ),
            "service1": _user(
                admin,
                "service1",
                "赵师傅",
                "13800000006",
                service,
                Role.Builtin.AFTER_SALES,
                None,
                "售后专员",
            ),
        }
        services.notification_send(
            tenant_id=tenant.pk,
            recipients=users.values(),
            title="欢迎使用 Tidepool CRM",
            body="这是演示数据，所有账号的密码都是 tidepool。",
        )
        for loader in _EXTENSIONS:
            loader(tenant, users)
    return tenant


def load_other_tenant() -> Tenant:
    tenant = services.tenant_create(name="示例贸易有限公司", slug="other")
    with tenant_scope(tenant.pk):
        admin = _bootstrap_admin(tenant, "other_admin", "周总", "13900000001")
        dept = services.department_create(actor=admin, name="销售部")
        admin.department = dept
        admin.save(update_fields=["department"])
        users = {
            "other_admin": admin,
            "other_rep": _user(
                admin,
                "other_rep",
                "吴敏",
                "13900000002",
                dept,
                Role.Builtin.SALES_REP,
                admin,
                "销售代表",
            ),
        }
        for loader in _EXTENSIONS:
            loader(tenant, users)
    return tenant


OPERATOR_USERNAME = "platform"


@scopes_disabled()
def load_demo() -> list[str]:
    """Create what is missing; returns a line per thing done (for the command's output).

    SECURITY: the platform operator ``platform`` with the known password ``tidepool`` is a
    development convenience, created only with DEBUG on. With DEBUG off an operator is made
    with ``manage.py createsuperuser`` (own name, own password)."""
    done = []
    with transaction.atomic():
        if not Tenant.objects.filter(slug="demo").exists():
            load_demo_tenant()
            done.append("created tenant demo (演示科技有限公司)")
        if not Tenant.objects.filter(slug="other").exists():
            load_other_tenant()
            done.append("created tenant other (示例贸易有限公司)")
        if settings.DEBUG and not User.objects.filter(username=OPERATOR_USERNAME).exists():
            User.objects.create_superuser(
                OPERATOR_USERNAME, password=DEMO_PASSWORD, name="平台运维"
            )
            done.append(f"created platform operator {OPERATOR_USERNAME}")
    return done


def demo_logins() -> list[tuple[str, str]]:
    """The logins to print: the demo operator only where :func:`load_demo` makes it."""
    return [
        (username, who)
        for username, who in DEMO_LOGINS
        if username != OPERATOR_USERNAME or settings.DEBUG
    ]


DEMO_LOGINS = [
    ("admin", "演示科技 · 管理员 / tenant admin"),
    ("manager1", "演示科技 · 销售部经理 / sales manager"),
    ("rep1", "演示科技 · 销售一部 / sales rep"),
    ("rep2", "演示科技 · 销售一部 / sales rep"),
    ("rep3", "演示科技 · 销售二部 / sales rep"),
    ("service1", "演示科技 · 售后部 / after-sales"),
    ("other_admin", "示例贸易 · 管理员 / tenant admin"),
    ("other_rep", "示例贸易 · 销售代表 / sales rep"),
    ("platform", "平台运维 / platform operator (/admin/)"),
]
