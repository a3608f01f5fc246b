"""Messages pushed to Chinese group bots' incoming webhooks (issue 18's reminder channel):
企业微信 (WeCom group robot), 钉钉 (DingTalk custom robot) and 飞书 (Feishu / Lark custom bot).

``build`` makes the request each provider documents, ``post`` sends it with the standard
library (``urllib.request``, no extra dependency) and ``send`` does it for a saved
``crm.models.Webhook``. Every failure is a ``WebhookError`` whose text is a short translated
sentence for the user (the delivery log's last error, the preferences page's test button).

The formats and the signing, as documented:

- **WeCom** (https://developer.work.weixin.qq.com/document/path/91770): POST
  ``{"msgtype": "markdown", "markdown": {"content": …}}`` to
  ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``. WeCom robots have no signing:
  the key in the address is the secret, so a secret saved for a WeCom webhook is ignored.
  The content is at most 4096 bytes of UTF-8. The answer is ``{"errcode": 0, "errmsg": "ok"}``.
- **DingTalk** (https://open.dingtalk.com/document/robots/custom-robot-access): POST
  ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}`` to
  ``https://oapi.dingtalk.com/robot/send?access_token=…``. With a secret (加签), the address
  gets ``&timestamp=<milliseconds>&sign=<sign>``, where sign is
  ``urlencode(base64(hmac_sha256(key=secret, msg=f"{timestamp}\\n{secret}")))``; DingTalk
  refuses a timestamp more than an hour away. The answer is ``{"errcode": 0, …}`` (310000 when
  the signature or the keyword does not match).
- **Feishu / Lark** (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): POST
  ``{"msg_type": "text", "content": {"text": …}}`` to
  ``https://open.feishu.cn/open-apis/bot/v2/hook/…`` (or ``open.larksuite.com``). With a
  secret (签名校验), the body gets ``"timestamp": "<seconds>"`` and
  ``"sign": base64(hmac_sha256(key=f"{timestamp}\\n{secret}", msg=b""))`` (the string to sign
  is the key and the message is empty, the other way round from DingTalk). The answer is
  ``{"code": 0, …}`` (19021 for a bad signature), older bots answer ``{"StatusCode": 0, …}``.

The record's link is made absolute with ``settings.SITE_URL`` when it is set; without it the
relative path stays in the text (a bot cannot open it, but the user can read where to go).

Title and text are plain text: in the two markdown formats, the characters that would turn
them into links, images or HTML tags (``[ ] < >``) are replaced by their full-width forms, so
that a customer's name can neither add a link nor restyle the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Webhook

Provider = Webhook.Provider

# The hosts each provider's webhooks live on (the address a user pastes from the group's bot
# settings).
HOSTS: dict[str, tuple[str, ...]] = {
    Provider.WECOM: ("qyapi.weixin.qq.com",),
    Provider.DINGTALK: ("oapi.dingtalk.com",),
    Provider.FEISHU: ("open.feishu.cn", "open.larksuite.com"),
}
LOCAL_HOSTS = ("127.0.0.1", "localhost")

# WeCom documents 4096 bytes for a markdown message; DingTalk and Feishu allow more, one limit
# keeps the three alike (a reminder is a few lines).
MAX_BYTES = 4096
MAX_TITLE_CHARS = 100
MAX_ERROR_CHARS = 200

_MARKDOWN_NEUTRAL = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞"})


class WebhookError(Exception):
    """A message could not be delivered. ``str(error)`` is a short translated sentence for
    the user; ``code`` says what kind of failure it was (``address``, ``connection``,
    ``timeout``, ``http``, ``provider``, ``answer``; ``error`` when a caller raises it
    with a message only), for callers that retry some and not others (an ``address`` error
    will fail again)."""

    def __init__(self, message, *, code: str = "error"):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code


# ---------------------------------------------------------------- addresses


def _is_local(host: str | None) -> bool:
    return host in LOCAL_HOSTS


def _local_allowed() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBHOOK_ALLOW_LOCAL", False))


def validate_url(provider: str, url: str) -> None:
    """Refuse (``ValidationError``, translated) an address that is not http(s) or obviously
    not the provider's: its host must be one of ``HOSTS[provider]`` over https.

    http://127.0.0.1 and http://localhost are accepted only with ``DEBUG`` or the setting
    ``WEBHOOK_ALLOW_LOCAL`` (the tests' local server)."""
    # SECURITY: the server posts to this address; limiting it to the providers' hosts keeps a
    # user from making it call internal services (SSRF).
    if provider not in HOSTS:
        raise ValueError(f"unknown webhook provider {provider!r}")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            _("The webhook address must start with http:// or https://."), code="scheme"
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname.lower()
    if _is_local(host) and _local_allowed():
        return
    if host not in HOSTS[provider] or parts.scheme != "https" or port not in (None, 443):
        raise ValidationError(
            _("This is not a %(provider)s webhook address: it must begin with https://%(host)s/."),
            code="host",
            params={"provider": Provider(provider).label, "host": HOSTS[provider][0]},
        )


# ---------------------------------------------------------------- requests


def _absolute(link: str) -> str:
    if not link or link.startswith(("http://", "https://")):
        return link
    site = getattr(settings, "SITE_URL", "")
    if site and link.startswith("/"):
        return site.rstrip("/") + link
    return link


def _link_target(link: str) -> str:
    # Parentheses and spaces would end a markdown link early.
    return urllib.parse.quote(link, safe=":/?#@!$&'*+,;=%~")


def _cut(text: str, max_bytes: int) -> str:
    """``text`` within ``max_bytes`` of UTF-8, cut on a character and ended with "…"."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    ellipsis = "…"
    room = max(max_bytes - len(ellipsis.encode("utf-8")), 0)
    return data[:room].decode("utf-8", errors="ignore").rstrip() + ellipsis


def _fit(head: str, text: str, tail: str, limit: int = MAX_BYTES) -> str:
    """head + text + tail within ``limit`` bytes: the text gives way, the title and the link
    stay whole."""
    fixed = len(head.encode("utf-8")) + len(tail.encode("utf-8"))
    return head + _cut(text, max(limit - fixed, 0)) + tail


def _dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def build(
    provider: str,
    url: str,
    secret: str,
    title: str,
    text: str,
    link: str = "",
    now: float | None = None,
) -> tuple[str, bytes, dict]:
    """The request for ``provider``: (final address, JSON body in UTF-8, headers), signed with
    ``secret`` when the provider signs (DingTalk, Feishu; WeCom ignores it). ``now`` (epoch
    seconds) fixes the signature's timestamp for tests."""
    now = time.time() if now is None else now
    title, text = str(title), str(text)  # lazy translations from callers
    title = _cut(" ".join(title.split()), MAX_TITLE_CHARS * 3)
    link = _absolute(str(link))
    label = gettext("Open in Tidepool")
    if provider == Provider.WECOM:
        title_md = title.translate(_MARKDOWN_NEUTRAL)
        text_md = text.translate(_MARKDOWN_NEUTRAL)
        tail = f"\n[{label}]({_link_target(link)})" if link else ""
        content = _fit(f"**{title_md}**\n", text_md, tail)
        body: dict = {"msgtype": "markdown", "markdown": {"content": content}}
    elif provider == Provider.DINGTALK:
        title_md = title.translate(_MARKDOWN_NEUTRAL)
        # DingTalk's markdown joins single line breaks: a hard break keeps the lines apart.
        text_md = "  \n".join(text.translate(_MARKDOWN_NEUTRAL).splitlines())
        tail = f"\n\n[{label}]({_link_target(link)})" if link else ""
        content = _fit(f"#### {title_md}\n\n", text_md, tail)
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": content}}
        if secret:
            timestamp = int(now * 1000)
            sign = urllib.parse.quote_plus(_dingtalk_sign(secret, timestamp))
            url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
    elif provider == Provider.FEISHU:
        tail = f"\n{link}" if link else ""
        body = {"msg_type": "text", "content": {"text": _fit(f"{title}\n", text, tail)}}
        if secret:
            timestamp = int(now)
            body = {"timestamp": str(timestamp), "sign": _feishu_sign(secret, timestamp), **body}
    else:
        raise ValueError(f"unknown webhook provider {provider!r}")
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Tidepool-CRM"}
    return url, data, headers


# ---------------------------------------------------------------- sending


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # SECURITY: the address was checked, a redirect's target was not: a 3xx is an error.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _provider_error(provider: str, answer: object) -> WebhookError | None:
    """The provider's refusal in a JSON answer, or None when it says OK."""
    if not isinstance(answer, dict):
        return None
    if provider == Provider.FEISHU:
        if answer.get("code") not in (None, 0):
            code, message = answer.get("code"), answer.get("msg", "")
        elif answer.get("StatusCode") not in (None, 0):
            code, message = answer.get("StatusCode"), answer.get("StatusMessage", "")
        else:
            return None
    elif answer.get("errcode") not in (None, 0):
        code, message = answer.get("errcode"), answer.get("errmsg", "")
    else:
        return None
    return WebhookError(
        _("%(provider)s answered error %(code)s: %(message)s")
        % {
            "provider": Provider(provider).label,
            "code": code,
            "message": str(message)[:MAX_ERROR_CHARS],
        },
        code="provider",
    )


def _read_json(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def post(
    provider: str,
    url: str,
    secret: str,
    *,
    title: str,
    text: str,
    link: str = "",
    timeout: float = 5.0,
) -> None:
    """Deliver one message; return when the provider accepted it, else raise
    ``WebhookError``. The address is checked again (``validate_url``) before anything is sent."""
    try:
        validate_url(provider, url)
    except ValidationError as error:
        raise WebhookError(error.messages[0], code="address") from error
    final_url, data, headers = build(provider, url.strip(), secret, title, text, link)
    # SECURITY: validate_url allowed only http(s) on the provider's host (or local in tests).
    request = urllib.request.Request(  # noqa: S310
        final_url, data=data, headers=headers, method="POST"
    )
    handlers: list = [_NoRedirect()]
    if _is_local(urllib.parse.urlsplit(final_url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))  # the local server, never a proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raw = error.read() if error.fp else b""
        refusal = _provider_error(provider, _read_json(raw))
        if refusal:
            raise refusal from error
        raise WebhookError(
            _("The bot answered HTTP %(status)s.") % {"status": error.code}, code="http"
        ) from error
    except TimeoutError as error:
        raise _timeout(timeout) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _timeout(timeout) from error
        reason = getattr(error.reason, "strerror", None) or str(error.reason)
        raise WebhookError(
            _("Connection failed: %(reason)s") % {"reason": reason}, code="connection"
        ) from error
    except OSError as error:  # reset or closed while reading the answer
        reason = error.strerror or str(error)
        raise WebhookError(
            _("Connection failed: %(reason)s") % {"reason": reason}, code="connection"
        ) from error
    answer = _read_json(raw)
    if answer is None:
        raise WebhookError(
            _("%(provider)s gave an answer that could not be read.")
            % {"provider": Provider(provider).label},
            code="answer",
        )
    refusal = _provider_error(provider, answer)
    if refusal:
        raise refusal


def _timeout(seconds: float) -> WebhookError:
    return WebhookError(
        _("No answer within %(seconds)s seconds.") % {"seconds": f"{seconds:g}"}, code="timeout"
    )


def send(webhook: Webhook, *, title: str, text: str, link: str = "", timeout: float = 5.0) -> None:
    """Deliver one message to a saved webhook (``post`` with its provider, address and
    secret)."""
    post(
        webhook.provider,
        webhook.url,
        webhook.secret,
        title=title,
        text=text,
        link=link,
        timeout=timeout,
    )
