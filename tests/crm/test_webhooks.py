"""crm.webhooks: the group bots' formats and signatures, and every way a delivery fails.

Every delivery goes to the local server of tests/webhook_server.py on 127.0.0.1; the
signatures are recomputed here from the recorded request, independently of the module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from crm.models import Webhook
from crm.webhooks import MAX_BYTES, WebhookError, build, post, send, validate_url
from tests.webhook_server import closed_port_url

WECOM, DINGTALK, FEISHU = "wecom", "dingtalk", "feishu"
TITLE = "跟进提醒"
TEXT = "客户：上海潮汐贸易有限公司\n计划跟进：今天 15:00"
LINK = "/customers/42/"


@pytest.fixture(autouse=True)
def _local_webhooks(settings):
    settings.WEBHOOK_ALLOW_LOCAL = True
    settings.DEBUG = False


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def dingtalk_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(secret.encode(), (timestamp + "\n" + secret).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    mac = hmac.new((timestamp + "\n" + secret).encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


# ---------------------------------------------------------------- formats and signing


def test_wecom_posts_markdown_content_with_the_title_text_and_link(webhook_server):
    url = webhook_server.url("/cgi-bin/webhook/send?key=abc-123")
    post(WECOM, url, "", title=TITLE, text=TEXT, link=LINK)

    [request] = webhook_server.requests
    assert request.method == "POST"
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": "abc-123"}
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert list(request.json) == ["msgtype", "markdown"]
    assert request.json["msgtype"] == "markdown"
    content = request.json["markdown"]["content"]
    assert list(request.json["markdown"]) == ["content"]
    assert content.startswith(f"**{TITLE}**\n")
    assert "上海潮汐贸易有限公司" in content
    assert content.endswith(f"({LINK})")


def test_wecom_ignores_the_secret(webhook_server):
    url = webhook_server.url("/cgi-bin/webhook/send?key=abc")
    post(WECOM, url, "a-secret", title=TITLE, text=TEXT)
    post(WECOM, url, "", title=TITLE, text=TEXT)

    signed, unsigned = webhook_server.requests
    assert signed.query == unsigned.query == {"key": "abc"}
    assert signed.body == unsigned.body
    assert "sign" not in signed.json and "timestamp" not in signed.json
    assert build(WECOM, url, "x", TITLE, TEXT, now=1) == build(WECOM, url, "", TITLE, TEXT, now=1)


def test_dingtalk_posts_markdown_signed_in_the_address(webhook_server):
    secret = "SEC0123456789abcdef"
    before = int(time.time() * 1000)
    post(
        DINGTALK,
        webhook_server.url("/robot/send?access_token=tok"),
        secret,
        title=TITLE,
        text=TEXT,
        link=LINK,
    )
    after = int(time.time() * 1000)

    [request] = webhook_server.requests
    assert request.path == "/robot/send"
    assert set(request.query) == {"access_token", "timestamp", "sign"}
    assert request.query["access_token"] == "tok"
    timestamp = request.query["timestamp"]
    assert before <= int(timestamp) <= after  # milliseconds
    assert request.query["sign"] == dingtalk_sign(secret, timestamp)
    assert request.query["sign"] != dingtalk_sign("another secret", timestamp)

    assert request.json["msgtype"] == "markdown"
    assert request.json["markdown"]["title"] == TITLE
    text = request.json["markdown"]["text"]
    assert text.startswith(f"#### {TITLE}\n\n")
    # DingTalk joins single line breaks: the text's lines are kept apart by hard breaks.
    assert "上海潮汐贸易有限公司  \n计划跟进" in text
    assert text.endswith(f"({LINK})")


def test_dingtalk_sign_is_url_encoded_in_the_address():
    # A fixed moment whose signature holds "+", "/" or "=": they must reach DingTalk encoded.
    secret = "SEC-fixed"
    url, _body, _headers = build(
        DINGTALK, "https://oapi.dingtalk.com/robot/send?access_token=t", secret, "t", "x", now=1
    )
    query = urllib.parse.urlsplit(url).query
    raw_sign = query.split("sign=", 1)[1]
    expected = dingtalk_sign(secret, "1000")
    assert raw_sign == urllib.parse.quote_plus(expected)
    assert "timestamp=1000&" in query
    assert expected.endswith("=") and "=" not in raw_sign


def test_dingtalk_without_a_secret_is_not_signed(webhook_server):
    post(DINGTALK, webhook_server.url("/robot/send?access_token=tok"), "", title="t", text="x")
    [request] = webhook_server.requests
    assert request.query == {"access_token": "tok"}


def test_feishu_posts_text_signed_in_the_body(webhook_server):
    secret = "feishu-secret"
    before = int(time.time())
    post(
        FEISHU,
        webhook_server.url("/open-apis/bot/v2/hook/uuid-1"),
        secret,
        title=TITLE,
        text=TEXT,
        link=LINK,
    )
    after = int(time.time())

    [request] = webhook_server.requests
    assert request.path == "/open-apis/bot/v2/hook/uuid-1"
    assert request.query == {}
    body = request.json
    assert body["msg_type"] == "text"
    assert body["content"] == {"text": f"{TITLE}\n{TEXT}\n{LINK}"}
    assert isinstance(body["timestamp"], str)
    assert before <= int(body["timestamp"]) <= after  # seconds
    assert body["sign"] == feishu_sign(secret, body["timestamp"])
    assert body["sign"] != feishu_sign("wrong", body["timestamp"])
    # Not DingTalk's way round (secret as the key).
    assert body["sign"] != dingtalk_sign(secret, body["timestamp"])


def test_feishu_without_a_secret_is_not_signed(webhook_server):
    post(FEISHU, webhook_server.url("/open-apis/bot/v2/hook/u"), "", title="t", text="x")
    [request] = webhook_server.requests
    assert set(request.json) == {"msg_type", "content"}


def test_send_uses_the_saved_webhook(webhook_server, world, scoped):
    with scoped(world.rep_east):
        saved = Webhook.objects.create(
            tenant=world.tenant_a,
            user=world.rep_east,
            provider=Webhook.Provider.FEISHU,
            url=webhook_server.url("/open-apis/bot/v2/hook/saved"),
            secret="s",
        )
        send(Webhook.objects.get(pk=saved.pk), title=TITLE, text=TEXT)
    [request] = webhook_server.requests
    assert request.path == "/open-apis/bot/v2/hook/saved"
    assert request.json["sign"] == feishu_sign("s", request.json["timestamp"])


def test_body_is_utf8_json_not_escaped():
    _url, body, _headers = build(FEISHU, "https://open.feishu.cn/x", "", TITLE, TEXT)
    assert TITLE.encode("utf-8") in body
    assert json.loads(body.decode("utf-8"))["content"]["text"].startswith(TITLE)


# ---------------------------------------------------------------- text, links, length


@pytest.mark.parametrize("provider", [WECOM, DINGTALK])
def test_markdown_cannot_gain_links_or_tags_from_the_text(provider):
    evil = "[点我](https://evil.example) <font color=warning>红</font>"
    _url, body, _h = build(provider, "https://x", "", evil, evil)
    markdown = json.loads(body)["markdown"]
    content = markdown.get("content") or markdown["text"]
    assert "](https://evil" not in content
    assert "<font" not in content
    assert "［点我］" in content and "＜font" in content


@pytest.mark.parametrize("provider", [WECOM, DINGTALK, FEISHU])
def test_long_text_is_cut_cleanly_within_4096_bytes_keeping_the_link(provider):
    long_text = "长" * 3000  # 9,000 bytes of UTF-8
    _url, body, _h = build(provider, "https://x", "", TITLE, long_text, link=LINK)
    message = json.loads(body)
    content = (
        message["content"]["text"]
        if provider == FEISHU
        else message["markdown"].get("content") or message["markdown"]["text"]
    )
    size = len(content.encode("utf-8"))
    assert MAX_BYTES - 3 <= size <= MAX_BYTES
    assert "长…" in content
    assert TITLE in content
    assert content.endswith(LINK) or content.endswith(f"({LINK})")


def test_short_text_is_not_cut():
    _url, body, _h = build(WECOM, "https://x", "", TITLE, "短" * 100)
    assert "…" not in json.loads(body)["markdown"]["content"]


def test_link_is_absolute_with_site_url(settings):
    settings.SITE_URL = "https://crm.example.cn/"
    _url, body, _h = build(FEISHU, "https://x", "", TITLE, TEXT, link=LINK)
    assert json.loads(body)["content"]["text"].endswith("\nhttps://crm.example.cn/customers/42/")


def test_link_stays_relative_without_site_url(settings):
    if hasattr(settings, "SITE_URL"):
        del settings.SITE_URL
    _url, body, _h = build(FEISHU, "https://x", "", TITLE, TEXT, link=LINK)
    assert json.loads(body)["content"]["text"].endswith(f"\n{LINK}")


# ---------------------------------------------------------------- failures


def test_dingtalk_error_code_raises_with_the_providers_message(webhook_server, english):
    webhook_server.answer(json={"errcode": 310000, "errmsg": "sign not match"})
    with pytest.raises(WebhookError) as caught:
        post(DINGTALK, webhook_server.url("/robot/send?access_token=t"), "s", title="t", text="x")
    assert str(caught.value) == "DingTalk (钉钉) answered error 310000: sign not match"
    assert caught.value.code == "provider"


def test_wecom_error_code_raises(webhook_server, english):
    webhook_server.answer(json={"errcode": 93000, "errmsg": "invalid webhook url"})
    with pytest.raises(WebhookError, match=r"^WeCom \(企业微信\) answered error 93000: invalid"):
        post(WECOM, webhook_server.url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")


def test_feishu_error_code_raises(webhook_server, english):
    webhook_server.answer(
        json={"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
    )
    with pytest.raises(WebhookError) as caught:
        post(FEISHU, webhook_server.url("/open-apis/bot/v2/hook/u"), "s", title="t", text="x")
    assert str(caught.value) == (
        "Feishu (飞书) answered error 19021: sign match fail or timestamp is not within one hour"
    )


def test_feishu_old_status_code_raises(webhook_server, english):
    webhook_server.answer(json={"StatusCode": 9499, "StatusMessage": "Bad Request"})
    with pytest.raises(WebhookError, match="answered error 9499: Bad Request"):
        post(FEISHU, webhook_server.url("/open-apis/bot/v2/hook/u"), "", title="t", text="x")


def test_feishu_error_on_a_4xx_names_the_providers_code(webhook_server, english):
    webhook_server.answer(status=400, json={"code": 19021, "msg": "sign match fail"})
    with pytest.raises(WebhookError, match="answered error 19021: sign match fail") as caught:
        post(FEISHU, webhook_server.url("/open-apis/bot/v2/hook/u"), "s", title="t", text="x")
    assert caught.value.code == "provider"


def test_http_500_raises(webhook_server, english):
    webhook_server.answer(status=500, json="")
    with pytest.raises(WebhookError) as caught:
        post(WECOM, webhook_server.url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")
    assert str(caught.value) == "The bot answered HTTP 500."
    assert caught.value.code == "http"


def test_a_redirect_is_not_followed(webhook_server, english):
    webhook_server.answer(status=302, json="")
    with pytest.raises(WebhookError, match="HTTP 302"):
        post(WECOM, webhook_server.url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")
    assert len(webhook_server.requests) == 1


def test_an_answer_that_is_not_json_raises(webhook_server, english):
    webhook_server.answer(json="")
    with pytest.raises(WebhookError, match="gave an answer that could not be read") as caught:
        post(WECOM, webhook_server.url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")
    assert caught.value.code == "answer"


def test_failures_then_success(webhook_server):
    webhook_server.answer(status=500, json="", times=2)
    url = webhook_server.url("/cgi-bin/webhook/send?key=k")
    for _ in range(2):
        with pytest.raises(WebhookError):
            post(WECOM, url, "", title="t", text="x")
    post(WECOM, url, "", title="t", text="x")
    assert len(webhook_server.requests) == 3


def test_connection_refused_raises(english):
    with pytest.raises(WebhookError) as caught:
        post(WECOM, closed_port_url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")
    assert str(caught.value) == "Connection failed: Connection refused"
    assert caught.value.code == "connection"


def test_timeout_raises(webhook_server, english):
    webhook_server.answer(delay=3)
    started = time.monotonic()
    with pytest.raises(WebhookError) as caught:
        post(
            FEISHU,
            webhook_server.url("/open-apis/bot/v2/hook/u"),
            "",
            title="t",
            text="x",
            timeout=0.3,
        )
    assert time.monotonic() - started < 2
    assert str(caught.value) == "No answer within 0.3 seconds."
    assert caught.value.code == "timeout"


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        (WECOM, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"),
        (DINGTALK, "https://oapi.dingtalk.com/robot/send?access_token=XXXXXX"),
        (FEISHU, "https://open.feishu.cn/open-apis/bot/v2/hook/xxxxxxxx"),
        (FEISHU, "https://open.larksuite.com/open-apis/bot/v2/hook/xxxxxxxx"),
    ],
)
def test_validate_url_accepts_the_providers_hosts(provider, url, settings):
    settings.WEBHOOK_ALLOW_LOCAL = False
    validate_url(provider, url)


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        (WECOM, "https://oapi.dingtalk.com/robot/send?access_token=X"),  # another provider's
        (DINGTALK, "https://example.com/robot/send?access_token=X"),
        (DINGTALK, "https://oapi.dingtalk.com.evil.cn/robot/send"),
        (DINGTALK, "https://oapi.dingtalk.com@evil.cn/robot/send"),
        (FEISHU, "http://open.feishu.cn/open-apis/bot/v2/hook/x"),  # not https
        (FEISHU, "https://open.feishu.cn:8443/open-apis/bot/v2/hook/x"),
        (WECOM, "http://127.0.0.1:8000/cgi-bin/webhook/send?key=k"),  # local, not allowed
        (WECOM, "http://localhost/cgi-bin/webhook/send?key=k"),
        (WECOM, "http://10.0.0.5/cgi-bin/webhook/send?key=k"),
    ],
)
def test_validate_url_refuses_other_hosts_with_a_message(provider, url, settings, english):
    settings.WEBHOOK_ALLOW_LOCAL = False
    with pytest.raises(ValidationError) as caught:
        validate_url(provider, url)
    label = Webhook.Provider(provider).label
    host = {WECOM: "qyapi.weixin.qq.com", DINGTALK: "oapi.dingtalk.com"}.get(
        provider, "open.feishu.cn"
    )
    assert caught.value.messages == [
        f"This is not a {label} webhook address: it must begin with https://{host}/."
    ]


def test_validate_url_accepts_local_addresses_only_when_allowed(settings):
    local = ["http://127.0.0.1:8765/hook", "http://localhost:8765/hook"]
    settings.WEBHOOK_ALLOW_LOCAL = False
    for url in local:
        with pytest.raises(ValidationError):
            validate_url(WECOM, url)
    settings.WEBHOOK_ALLOW_LOCAL = True
    for url in local:
        validate_url(WECOM, url)
    settings.WEBHOOK_ALLOW_LOCAL = False
    settings.DEBUG = True
    for url in local:
        validate_url(WECOM, url)


@pytest.mark.parametrize(
    "url", ["ftp://qyapi.weixin.qq.com/x", "file:///etc/passwd", "qyapi.weixin.qq.com/x", ""]
)
def test_validate_url_refuses_other_schemes(url, english):
    with pytest.raises(ValidationError) as caught:
        validate_url(WECOM, url)
    assert caught.value.messages == ["The webhook address must start with http:// or https://."]


def test_post_refuses_a_non_http_address_without_sending(webhook_server, english):
    with pytest.raises(WebhookError) as caught:
        post(WECOM, "file:///etc/passwd", "", title="t", text="x")
    assert str(caught.value) == "The webhook address must start with http:// or https://."
    assert caught.value.code == "address"


def test_post_refuses_a_local_address_unless_allowed(webhook_server, settings):
    settings.WEBHOOK_ALLOW_LOCAL = False
    with pytest.raises(WebhookError) as caught:
        post(WECOM, webhook_server.url("/cgi-bin/webhook/send?key=k"), "", title="t", text="x")
    assert caught.value.code == "address"
    assert webhook_server.requests == []


def test_webhook_error_with_a_message_only():
    error = WebhookError("机器人已停用")
    assert str(error) == "机器人已停用"
    assert error.code == "error"


@pytest.mark.parametrize("provider", [WECOM, DINGTALK, FEISHU])
def test_lazy_translated_title_and_text_are_accepted(provider):
    from django.utils.translation import gettext_lazy

    _url, body, _h = build(provider, "https://x", "", gettext_lazy("Active"), gettext_lazy("Name"))
    decoded = body.decode("utf-8")
    assert "启用" in decoded and "姓名" in decoded  # translated when built (zh-hans)
