"""Issue 16 §3: the reason modal (templates/components/reason_modal.html) on the customer and
lead pages: 退回公海, 关闭线索, 退回线索池.

The form has ``novalidate`` (no browser bubble); the server validates. Posted with htmx from the
modal, an empty reason answers 422 with the modal's form alone, the error under its field and no
message; nothing changes. A valid reason does the action and answers like every action of the
page (header and tab out of band). Without htmx (no JavaScript) the old flow stays: a message
and a redirect.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled

from crm.models import Option, OptionKind
from customers.models import Customer
from leads.models import Lead
from tests.leads.factories import make_lead, make_lead_pool
from tests.pools.factories import make_group, owned, return_reason


def _reload(model, pk):
    with scopes_disabled():
        return model.objects.get(pk=pk)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _pending(client) -> list[str]:
    """The messages the next page would show (what the last response left stored)."""
    page = client.get(reverse("crm:workbench"))
    return [str(m) for m in get_messages(page.wsgi_request)]


def _htmx(page_url: str) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{page_url}"}


@pytest.fixture
def east_pool(world):
    return make_group(world.tenant_a, "华东公海", departments=[world.east])


def _field_error(html: str, text: str) -> bool:
    """``text`` as an inline error of the modal (role=alert, data-testid=modal-error)."""
    return bool(
        re.search(
            rf'<div class="error" role="alert" data-testid="modal-error">{re.escape(text)}', html
        )
    )


# ---------------------------------------------------------------- the page renders the modal


def test_customer_page_offers_return_as_a_modal_without_browser_validation(
    world, as_user, east_pool
):
    customer = owned(east_pool, world.rep_east, "弹窗客户")
    html = (
        as_user(world.rep_east)
        .get(reverse("customers:customer-detail", args=[customer.pk]))
        .content.decode()
    )
    # The trigger is a link to the dialog (the no-JavaScript fallback) that record.js opens.
    assert re.search(
        r'<a class="btn btn-sm" href="#return-modal" data-dialog-open="return-modal"', html
    )
    dialog = html[html.index('<dialog id="return-modal"') : html.index("</dialog>")]
    form = re.search(r"<form [^>]*>", dialog).group(0)
    assert "novalidate" in form and 'hx-post="/pools/return/"' in form.replace(
        reverse("customers:pool-return"), "/pools/return/"
    )
    assert '<input type="hidden" name="modal" value="return-modal">' in dialog
    # Posted without JavaScript (a plain form), it carries its CSRF token.
    assert 'name="csrfmiddlewaretoken"' in dialog
    assert f'<input type="hidden" name="ids" value="{customer.pk}">' in dialog
    assert 'name="reason"' in dialog and 'name="note"' in dialog
    assert "<details" not in html[html.index('id="record-actions"') : html.index("</dialog>")]


# ---------------------------------------------------------------- 退回公海


def test_customer_return_without_a_reason_answers_422_with_the_inline_error(
    world, as_user, east_pool
):
    customer = owned(east_pool, world.rep_east, "没有原因")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:pool-return"),
        {
            "ids": [customer.pk],
            "reason": "",
            "note": "备注",
            "next": page_url,
            "modal": "return-modal",
        },
        **_htmx(page_url),
    )
    assert response.status_code == 422
    html = response.content.decode()
    # The form alone (it replaces itself in the open dialog), the note kept, no message.
    assert html.lstrip().startswith('<form method="post"') and 'id="return-modal-form"' in html
    assert "hx-swap-oob" not in html
    assert _field_error(html, "Choose why the customers go back to the pool.")
    assert 'value="备注"' in html
    assert _pending(client) == []
    after = _reload(Customer, customer.pk)
    assert after.owner_id == world.rep_east.pk and after.pooled_at is None


def test_customer_return_error_is_chinese_for_a_chinese_user(world, login, east_pool):
    customer = owned(east_pool, world.rep_east, "中文错误")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = login(world.rep_east)
    response = client.post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "next": page_url, "modal": "return-modal"},
        **_htmx(page_url),
    )
    assert response.status_code == 422
    assert _field_error(response.content.decode(), "请选择退回公海的原因。")


def test_customer_return_with_a_reason_returns_and_swaps_the_header(world, as_user, east_pool):
    customer = owned(east_pool, world.rep_east, "有原因")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:pool-return"),
        {
            "ids": [customer.pk],
            "reason": return_reason(world.tenant_a).pk,
            "next": page_url,
            "modal": "return-modal",
        },
        **_htmx(page_url),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="record-header"[^>]*hx-swap-oob="true"', html)
    assert 'data-testid="pool-state"' in html
    assert _reload(Customer, customer.pk).owner_id is None


def test_customer_return_without_javascript_keeps_the_message_and_redirect(
    world, as_user, east_pool
):
    customer = owned(east_pool, world.rep_east, "无脚本")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "next": page_url, "modal": "return-modal"},
    )
    assert response.status_code == 302 and response["Location"] == page_url
    assert _messages(response) == ["Choose why the customers go back to the pool."]
    assert _reload(Customer, customer.pk).owner_id == world.rep_east.pk


def test_an_unknown_modal_name_gets_the_ordinary_answer(world, as_user, east_pool):
    """SECURITY: the posted modal id only selects a partial the view knows."""
    customer = owned(east_pool, world.rep_east, "未知弹窗")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "next": page_url, "modal": "tab-body"},
        **_htmx(page_url),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="record-header"[^>]*hx-swap-oob="true"', html)
    # Not answered inline: the refusal stays a message (never a silent click), shown now.
    messages_box = html[html.index('<div id="messages"') :]
    assert "Choose why the customers go back to the pool." in messages_box
    assert _reload(Customer, customer.pk).owner_id == world.rep_east.pk


def test_other_messages_survive_the_inline_refusal(world, as_user, east_pool):
    customer = owned(east_pool, world.rep_east, "保留消息")
    page_url = reverse("customers:customer-detail", args=[customer.pk])
    client = as_user(world.rep_east)
    # A message waiting from an earlier request (a redirect whose page was never shown).
    client.post(
        reverse("customers:pool-return"), {"ids": [customer.pk], "reason": "", "next": page_url}
    )
    response = client.post(
        reverse("customers:pool-return"),
        {"ids": [customer.pk], "next": page_url, "modal": "return-modal"},
        **_htmx(page_url),
    )
    assert response.status_code == 422
    # The earlier message is still to be shown, once; the modal's refusal is not.
    assert _pending(client) == ["Choose why the customers go back to the pool."]


# ---------------------------------------------------------------- 关闭线索, 退回线索池


def _close_reason(tenant) -> Option:
    with scopes_disabled():
        return Option.objects.filter(tenant=tenant, kind=OptionKind.LEAD_CLOSE_REASON).first()


def test_lead_page_offers_close_and_return_as_modals(world, as_user):
    make_lead_pool(world.tenant_a, is_default=True)
    lead = make_lead(world.tenant_a, world.rep_east, company="弹窗线索")
    html = (
        as_user(world.rep_east).get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    )
    for modal in ("close-modal", "lead-return-modal"):
        assert f'data-dialog-open="{modal}"' in html
        dialog = html[html.index(f'<dialog id="{modal}"') :]
        dialog = dialog[: dialog.index("</dialog>")]
        assert "novalidate" in dialog and f'name="modal" value="{modal}"' in dialog
    assert 'name="close_reason"' in html


def test_lead_close_without_a_reason_answers_422_and_leaves_the_lead_open(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east, company="不关")
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("leads:lead-batch"),
        {
            "ids": [lead.pk],
            "action": "close",
            "close_note": "n",
            "next": page_url,
            "modal": "close-modal",
        },
        **_htmx(page_url),
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="close-modal-form"' in html and "hx-swap-oob" not in html
    assert _field_error(html, "Choose why the leads are closed.")
    assert _pending(client) == []
    assert _reload(Lead, lead.pk).status != "closed"


def test_lead_close_with_a_reason_closes_and_swaps_the_header(world, as_user):
    lead = make_lead(world.tenant_a, world.rep_east, company="要关")
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("leads:lead-batch"),
        {
            "ids": [lead.pk],
            "action": "close",
            "close_reason": _close_reason(world.tenant_a).pk,
            "next": page_url,
            "modal": "close-modal",
        },
        **_htmx(page_url),
    )
    assert response.status_code == 200
    assert re.search(r'id="record-header"[^>]*hx-swap-oob="true"', response.content.decode())
    assert _reload(Lead, lead.pk).status == "closed"


def test_lead_return_without_a_reason_answers_422(world, as_user):
    make_lead_pool(world.tenant_a, is_default=True)
    lead = make_lead(world.tenant_a, world.rep_east, company="不退")
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    client = as_user(world.rep_east)
    response = client.post(
        reverse("leads:pool-return"),
        {"ids": [lead.pk], "next": page_url, "modal": "lead-return-modal"},
        **_htmx(page_url),
    )
    assert response.status_code == 422
    assert _field_error(response.content.decode(), "Choose why the leads go back to the pool.")
    assert _pending(client) == []
    assert _reload(Lead, lead.pk).owner_id == world.rep_east.pk


def test_lead_return_error_is_chinese_for_a_chinese_user(world, login):
    make_lead_pool(world.tenant_a, is_default=True)
    lead = make_lead(world.tenant_a, world.rep_east, company="中文线索")
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    with translation.override("zh-hans"):
        client = login(world.rep_east)
    response = client.post(
        reverse("leads:pool-return"),
        {"ids": [lead.pk], "next": page_url, "modal": "lead-return-modal"},
        **_htmx(page_url),
    )
    assert response.status_code == 422
    assert _field_error(response.content.decode(), "请选择线索退回线索池的原因。")


# ------------------------------------------------------- 退回公海 from the list's batch bar


def test_the_customer_list_returns_ticked_rows_through_the_modal(world, login, east_pool):
    keep = owned(east_pool, world.rep_east, "留着的")
    gone = [owned(east_pool, world.rep_east, f"退回的{i}") for i in range(2)]
    list_url = reverse("customers:customer-list") + "?view=mine"
    client = login(world.rep_east)
    html = client.get(list_url).content.decode()
    # The bar's 退回公海 opens the modal, which takes the ticked rows of the batch form.
    bar = html[html.index("data-batch-bar") : html.index("</form>", html.index("data-batch-bar"))]
    assert (
        'data-dialog-open="batch-return-modal"' in bar
        and '<details class="batch-pop batch-return' not in bar
    )
    dialog = html[html.index('<dialog id="batch-return-modal"') :]
    assert 'data-ids-from="batch-form"' in dialog and "novalidate" in dialog
    post = {"modal": "batch-return-modal", "next": list_url, "ids": [c.pk for c in gone]}
    # No reason: 422, the modal's form with the Chinese error under the field, nothing returned.
    refused = client.post(
        reverse("customers:pool-return"), {**post, "reason": ""}, **_htmx(list_url)
    )
    assert refused.status_code == 422
    text = refused.content.decode()
    assert 'id="batch-return-modal-form"' in text and _field_error(text, "请选择退回公海的原因。")
    # The form again still comes back to the list, not to the URL it was posted to.
    assert f'name="next" value="{list_url}"'.replace("&", "&amp;") in text
    assert _pending(client) == []
    assert all(_reload(Customer, c.pk).pooled_at is None for c in gone)
    # A reason: both go, the list comes back (an htmx redirect) with a message naming them.
    ok = client.post(
        reverse("customers:pool-return"),
        {**post, "reason": return_reason(world.tenant_a).pk},
        **_htmx(list_url),
    )
    assert ok.status_code == 200 and ok.headers["HX-Redirect"] == list_url
    assert all(_reload(Customer, c.pk).pooled_at is not None for c in gone)
    assert _reload(Customer, keep.pk).pooled_at is None
    pending = " ".join(_pending(client))
    assert "退回的0" in pending and "退回的1" in pending
