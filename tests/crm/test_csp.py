"""Security headers (issue 15 "Headers"): the Content-Security-Policy on every page, no inline
code in any page (the policy allows none), and HSTS preload / includeSubDomains as opt-ins.

The pages are those of the URL isolation matrix (tests/crm/test_url_matrix.py, each object
requested by its own tenant's admin and by the other tenant's) and every page without an id,
full and as htmx fragments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import get_resolver, reverse
from django.views.defaults import server_error
from django_scopes import scopes_disabled

from crm.models import ImportJob, User
from tests.crm.test_url_matrix import MATRIX, _media_in_tmp, _walk  # noqa: F401
from tests.customers.factories import make_customer, make_followup
from tests.factories import PASSWORD

EXPECTED_POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'"},
    "connect-src": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
    "base-uri": {"'self'"},
    "object-src": {"'none'"},
}
# URLs without an id that are actions, not pages.
NOT_PAGES = {"logout", "set_language"}


def parse_policy(header: str) -> dict[str, set[str]]:
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in policy, f"{name} given twice in {header!r}"
        policy[name] = set(values)
    return policy


def assert_policy(response, url: str) -> None:
    header = response.get("Content-Security-Policy")
    assert header, f"{url} ({response.status_code}) sends no Content-Security-Policy"
    assert "unsafe-inline" not in header and "unsafe-eval" not in header, header
    assert parse_policy(header) == EXPECTED_POLICY, f"{url}: {header}"


class InlineCodeFinder(HTMLParser):
    """Collects what the policy would refuse: <script> without src, <style>, style= and on…=
    attributes, javascript: URLs, and htmx attributes that need eval."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            value = (value or "").strip()
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            elif name.startswith("on") or name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}=…>")
            elif value.lower().startswith(("javascript:", "js:")):
                self.found.append(f'<{tag} {name}="{value[:40]}">')


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def list_urls() -> list[str]:
    names = {
        name
        for name, pattern in _walk(get_resolver().url_patterns)
        if not pattern.pattern.converters and not name.startswith("admin:")
    }
    return [reverse(name) for name in sorted(names - NOT_PAGES)]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return ""  # downloads (files), not pages
    if not response.get("Content-Type", "").startswith("text/html"):
        return ""
    return response.content.decode()


def test_the_finder_sees_every_kind_of_inline_code():
    html = (
        '<script>x()</script><script src="/s.js"></script><style>p{}</style>'
        '<p style="color:red" onclick="x()"><a href="javascript:x()">a</a>'
        "<div hx-on:click=\"x()\" hx-vals='js:{a: 1}'></div>"
    )
    assert len(inline_code(html)) == 7
    assert inline_code('<script src="/s.js" defer></script><p data-confirm="Sure?">') == []


@pytest.fixture
def furnished(world):
    """Tenant A with a customer, a follow-up, an import running: its pages show content."""
    customer = make_customer(world.tenant_a, world.rep_east, name="甲的客户")
    make_followup(customer, world.rep_east, "甲的跟进")
    job = ImportJob.objects.create(
        tenant=world.tenant_a,
        kind="customers",
        status=ImportJob.Status.APPLYING,
        created_by=world.admin_a,
        original_name="名单.xlsx",
        progress_done=3,
        progress_total=10,
    )
    return job


def test_every_page_without_an_id_sends_the_policy_and_has_no_inline_code(world, login, furnished):
    client = login(world.admin_a)
    pages = 0
    for url in list_urls():
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            assert_policy(response, url)
            assert inline_code(_body(response)) == [], url
            pages += response.status_code == 200 and bool(_body(response))
    assert pages >= len(list_urls())  # real pages, not only redirects


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_every_matrix_page_sends_the_policy_and_has_no_inline_code(name, world, login):
    with scopes_disabled():
        kwargs = MATRIX[name](world)
    url = reverse(name, kwargs=kwargs)
    own = login(world.admin_b)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = own.get(url, **headers)
        assert_policy(response, url)
        assert inline_code(_body(response)) == [], url
    # The other tenant's answer (404) carries it too.
    other = login(world.admin_a)
    response = other.get(url)
    assert response.status_code in (404, 405)
    assert_policy(response, url)
    assert inline_code(_body(response)) == [], url


def test_running_import_sets_its_progress_bar_from_a_data_attribute(world, login, furnished):
    response = login(world.admin_a).get(reverse("crm:import-detail", args=[furnished.pk]))
    html = response.content.decode()
    assert 'class="progress-bar" data-percent="30"' in html
    assert inline_code(html) == []


def test_department_depth_is_a_class_not_a_style(world, login):
    html = login(world.admin_a).get(reverse("crm:department-list")).content.decode()
    assert 'class="tree-indent depth-2" data-depth="2"' in html  # 华东组 under 销售部
    assert inline_code(html) == []


def test_delete_buttons_ask_through_data_confirm(world, login):
    with scopes_disabled():
        kwargs = MATRIX["leads:rule-edit"](world)
    html = login(world.admin_b).get(reverse("leads:rule-edit", kwargs=kwargs)).content.decode()
    assert "data-confirm=" in html
    assert inline_code(html) == []


def test_htmx_is_configured_without_eval_nor_injected_styles(world, login):
    html = login(world.admin_a).get(reverse("crm:workbench")).content.decode()
    start = html.index('<meta name="htmx-config" content=\'') + len(
        '<meta name="htmx-config" content=\''
    )
    config = json.loads(html[start : html.index("'", start)])
    assert config == {
        "allowEval": False,
        "allowScriptTags": False,
        "includeIndicatorStyles": False,
        # Settling copies the old element's style attribute: refused by the policy.
        "attributesToSettle": ["class", "width", "height"],
    }
    # The meta comes before htmx itself, which reads it when it loads.
    assert html.index('name="htmx-config"') < html.index("django_htmx/htmx-2")
    # hx-headers is plain JSON (no "js:" prefix): htmx parses it without eval.
    start = html.index("hx-headers='") + len("hx-headers='")
    assert "X-CSRFToken" in json.loads(html[start : html.index("'", start)])
    # The indicator styles htmx no longer injects are in our stylesheet.
    css = (Path(settings.BASE_DIR) / "static/css/tidepool.css").read_text()
    assert ".htmx-request .htmx-indicator" in css


def test_error_pages_send_the_policy_and_have_no_inline_code(world, login, client):
    response = client.get("/accounts/login/")
    assert_policy(response, "login")
    assert inline_code(response.content.decode()) == []
    response = login(world.rep_east).get("/no-such-page/")
    assert response.status_code == 404
    assert_policy(response, "404")
    assert inline_code(response.content.decode()) == []
    # 500: rendered by Django without context processors nor the middleware's context.
    html = render_to_string("500.html")
    assert inline_code(html) == []
    assert "css/tidepool.css" in html
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "css/tidepool.css" in response.content.decode()


def test_platform_admin_pages_work_under_the_policy(world, client):
    """The Django admin has no inline code on the pages operators use: same policy, no
    relaxation needed."""
    User.objects.create_superuser("operator", password=PASSWORD)
    client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    with scopes_disabled():
        department = world.head_office.pk
    urls = [
        reverse("admin:index"),
        reverse("admin:crm_tenant_changelist"),
        reverse("admin:crm_tenant_add"),
        reverse("admin:crm_department_changelist"),
        reverse("admin:crm_department_change", args=[department]),
        reverse("admin:crm_user_changelist"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_policy(response, url)
        assert inline_code(response.content.decode()) == [], url


def _hsts_header(tmp_path, **env_vars) -> str:
    """The Strict-Transport-Security header of a production process (DEBUG off), with the
    given environment: settings are read once, at import, so each case is its own process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"} and not k.startswith("SECURE_HSTS")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DEBUG": "0",
            "SECRET_KEY": "prod-" + "k3y-w1th-3nough-3ntropy-" * 3,
            "ALLOWED_HOSTS": "crm.example.com",
            "TIDEPOOL_VAR_DIR": str(tmp_path),
            **env_vars,
        }
    )
    code = (
        "import django; django.setup()\n"
        "from django.http import HttpResponse\n"
        "from django.middleware.security import SecurityMiddleware\n"
        "from django.test import RequestFactory\n"
        "request = RequestFactory().get('/', secure=True, HTTP_HOST='crm.example.com')\n"
        "print(SecurityMiddleware(lambda r: HttpResponse())(request)"
        "['Strict-Transport-Security'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_hsts_has_no_subdomains_nor_preload_by_default(tmp_path):
    assert _hsts_header(tmp_path) == "max-age=31536000"


def test_hsts_subdomains_and_preload_are_opt_in(tmp_path):
    header = _hsts_header(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="true")
    assert header == "max-age=31536000; includeSubDomains; preload"
    assert _hsts_header(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="1") == (
        "max-age=31536000; includeSubDomains"
    )
