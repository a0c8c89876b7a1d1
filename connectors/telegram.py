"""Telegram Bot API: send messages from a bot and list the chats that recently wrote to it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors.base import AuthKind, Connector, Field, action
from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.fields import api_address
from connectors.http_response import HttpResponse
from connectors.registry import register
from connectors.responses import excerpt, json_or_error, parse_retry_after

API_ADDRESS = "https://api.telegram.org"
# Telegram's limit is on the text after entity parsing (api-notes 4.3).
MAX_TEXT_CHARS = 4096
# getUpdates returns at most 100 updates per call; 100 is also its default.
UPDATES_LIMIT = 100
TOKEN_MASK = "<bot token>"
NUMERIC_CHAT_ID = re.compile(r"-?\d+")
PUBLIC_USERNAME = re.compile(r"@[A-Za-z0-9_]+")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
# Hints keyed by a fragment of Telegram's description: what the user can do about it.
HINTS = (
    (
        "chat not found",
        "Check the chat id: a user must first press Start in a chat with the bot, "
        "and the bot must be a member of the group or channel.",
    ),
    (
        "bot was blocked by the user",
        "The user blocked the bot; it can write to them again once they unblock it.",
    ),
    (
        "can't parse entities",
        "The text does not follow the chosen formatting; escape its special characters "
        "or send it without formatting.",
    ),
    (
        "message is too long",
        f"Telegram accepts at most {MAX_TEXT_CHARS} characters once formatting is applied.",
    ),
)

PARSE_MODES = (("none", "No formatting"), ("HTML", "HTML"), ("MarkdownV2", "MarkdownV2"))
SEND_MESSAGE_INPUTS = (
    Field(
        "chat_id",
        "Chat",
        required=True,
        options_from="chats",
        help="A numeric chat id (groups and channels are negative) or a public "
        "@channelusername. Refresh the lists to see the chats that recently wrote to the bot.",
        placeholder="123456789",
    ),
    Field(
        "text",
        "Message",
        type="text",
        required=True,
        help=f"Up to {MAX_TEXT_CHARS} characters; longer messages are refused, not cut.",
    ),
    Field("parse_mode", "Formatting", type="select", default="none", options=PARSE_MODES),
    Field("disable_web_page_preview", "Disable link previews", type="boolean", default=False),
    Field(
        "disable_notification",
        "Send silently",
        type="boolean",
        default=False,
        help="Recipients get the message without a sound.",
    ),
)
SEND_MESSAGE_OUTPUTS = (
    Field("message_id", "Message id", type="number"),
    Field("chat_id", "Chat id", type="number"),
    Field("date", "Sent at (Unix time)", type="number"),
    Field("text", "Text as delivered", type="text"),
)
SEND_MESSAGE_SAMPLE = {
    "message_id": 512,
    "chat_id": 123456789,
    "date": 1717000000,
    "text": "Новая заявка\nИван, +79991234567",
}


@register
class Telegram(Connector):
    """Send messages through a Telegram bot created with @BotFather."""

    key = "telegram"
    name = "Telegram"
    icon = "✈️"
    description = "Send messages from your Telegram bot to a person, group or channel."
    auth_kind = AuthKind.API_KEY
    auth_fields = (
        Field(
            "bot_token",
            "Bot token",
            type="secret",
            required=True,
            help="The token @BotFather gave you when you created the bot.",
            placeholder="123456789:AAH…",
        ),
    )
    config_fields = (api_address(API_ADDRESS, "Change only for a self-hosted Bot API server."),)

    def test_connection(self) -> dict[str, Any]:
        """Ask Telegram which bot the token belongs to."""
        bot = _mapping(self._call("getMe"), "getMe")
        return {
            "account": f"@{bot.get('username') or bot.get('first_name', '')}",
            "bot_id": bot.get("id"),
        }

    def refresh_metadata(self) -> dict[str, Any]:
        """List the chats that recently wrote to the bot, newest first."""
        # No offset: an offset would confirm the updates and Telegram would then delete them,
        # taking them from any other program that reads this bot's updates. A negative
        # offset is no better: it makes Telegram forget every earlier update.
        # allowed_updates is left out too: Telegram keeps it as a setting of the bot.
        updates = self._call("getUpdates", {"limit": UPDATES_LIMIT, "timeout": 0})
        return {"chats": _recent_chats(updates if isinstance(updates, list) else [])}

    @action(
        "send_message",
        label="Send message",
        inputs=SEND_MESSAGE_INPUTS,
        outputs=SEND_MESSAGE_OUTPUTS,
        sample=SEND_MESSAGE_SAMPLE,
    )
    def send_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a text message and return what Telegram delivered."""
        message = _mapping(self._call("sendMessage", _message_payload(params)), "sendMessage")
        chat = message.get("chat") if isinstance(message.get("chat"), Mapping) else {}
        return {
            "message_id": message.get("message_id"),
            "chat_id": chat.get("id"),
            "date": message.get("date"),
            "text": message.get("text", ""),
        }

    def _call(self, method: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Call a Bot API method (POST JSON with a payload, GET without) and return its result."""
        token = self._token()
        url = f"{self._base_url()}/bot{quote(token, safe=':')}/{method}"
        try:
            if payload is None:
                response = self.http.request("GET", url)
            else:
                response = self.http.request("POST", url, json=dict(payload))
            return _result_of(response)
        except ConnectorError as error:
            # The token sits in the URL path, and transport errors quote URLs. The journal
            # stores error text, so re-raise a masked copy without the chained original.
            raise _masked(error, (token, quote(token, safe=":"))) from None

    def _token(self) -> str:
        """Return the bot token, refusing to call Telegram without one."""
        token = str(self.secrets.get("bot_token") or "").strip()
        if not token:
            raise AuthError("No bot token is set; paste the token @BotFather gave you")
        return token

    def _base_url(self) -> str:
        """Return the API address without a trailing slash."""
        return str(self.config.get("base_url") or API_ADDRESS).strip().rstrip("/")


def _message_payload(params: Mapping[str, Any]) -> dict[str, Any]:
    """Build the sendMessage body from the action's inputs."""
    # Browsers send textarea line breaks as CRLF; send plain LF, as Telegram apps do.
    text = str(params["text"]).replace("\r\n", "\n")
    parse_mode = str(params.get("parse_mode") or "none")
    if parse_mode not in {value for value, _ in PARSE_MODES}:
        raise ConnectorError(
            f"Send message: unknown formatting {parse_mode!r}; use none, HTML or MarkdownV2"
        )
    _check_text(text, parse_mode)
    payload: dict[str, Any] = {"chat_id": _chat_id(params["chat_id"]), "text": text}
    if parse_mode != "none":
        payload["parse_mode"] = parse_mode
    if _is_on(params.get("disable_web_page_preview")):
        # link_preview_options replaced the deprecated disable_web_page_preview.
        payload["link_preview_options"] = {"is_disabled": True}
    if _is_on(params.get("disable_notification")):
        payload["disable_notification"] = True
    return payload


def _check_text(text: str, parse_mode: str) -> None:
    """Refuse a message Telegram would refuse, instead of cutting or splitting it."""
    # Cutting would drop the end of the message (often the error details a notification
    # exists for) and splitting breaks HTML/MarkdownV2 markup and returns several messages.
    if not text.strip():
        raise ConnectorError("Send message: the message is empty once variables are filled in")
    # Markup is removed before Telegram counts, so only plain text can be judged here.
    if parse_mode == "none" and len(text) > MAX_TEXT_CHARS:
        raise ConnectorError(
            f"Send message: the message has {len(text)} characters; Telegram accepts at most "
            f"{MAX_TEXT_CHARS}. Shorten the text or the variables in it"
        )


def _chat_id(value: Any) -> int | str:
    """Return a chat id as Telegram takes it: an integer or a public @username."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if NUMERIC_CHAT_ID.fullmatch(text):
        return int(text)
    if PUBLIC_USERNAME.fullmatch(text):
        return text
    raise ConnectorError(
        f"Send message: the chat {text!r} is neither a numeric chat id nor a public "
        "@channelusername"
    )


def _is_on(value: Any) -> bool:
    """Read a switch that may arrive as a boolean or as mapped text like 'true' or '0'."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def _result_of(response: HttpResponse) -> Any:
    """Return the result of a Bot API answer or raise the error it describes."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise _retryable(response)
    body = json_or_error(response)
    if not isinstance(body, Mapping) or "ok" not in body:
        raise ConnectorError(
            f"The answer (status {status}) is not a Telegram Bot API response; "
            "check the API address"
        )
    if body["ok"] is True:
        return body.get("result")
    raise _error_from(body, status)


def _retryable(response: HttpResponse) -> RetryableError:
    """Describe flood control or a server failure, with Telegram's wait when it gives one."""
    status = response.status_code
    envelope = _envelope_or_empty(response)
    description = str(envelope.get("description") or "")
    retry_after = _parameters(envelope).get("retry_after")
    if not isinstance(retry_after, int | float):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        message = "Telegram asks to send less often"
    else:
        message = f"Telegram answered {status} {response.reason or ''}".rstrip()
    said = description or None
    return RetryableError(
        f"{message}: {said}" if said else message,
        retry_after=retry_after,
        service_message=said,
        status=status,
    )


def _error_from(body: Mapping[str, Any], status: int) -> ConnectorError:
    """Turn an {"ok": false} envelope into the typed error it stands for."""
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    description = str(body.get("description") or "no description")
    if code == 401:
        return AuthError(
            f"Telegram rejected the bot token ({description}); copy it again from @BotFather",
            service_message=description,
            status=code,
        )
    if code == 404:
        # Our method names are fixed, so Telegram's 404 means the token is malformed.
        return AuthError(
            f"Telegram did not recognise the bot token ({description}); it looks like "
            "123456789:AAH… and must be copied whole from @BotFather",
            service_message=description,
            status=code,
        )
    if code == 409:
        return ConnectorError(
            _conflict_message(description), service_message=description, status=code
        )
    message = f"Telegram refused the request: {description}"
    hint = _hint(description, _parameters(body))
    return ConnectorError(
        f"{message}. {hint}" if hint else message, service_message=description, status=code
    )


def _conflict_message(description: str) -> str:
    """Explain why the bot's updates cannot be read right now."""
    if "webhook" in description.lower():
        reason = (
            "A webhook is set on this bot, so Telegram sends its updates there and does not "
            "let other programs read them: recent chats cannot be listed. Enter the chat id "
            "by hand"
        )
    else:
        reason = (
            "Another program is reading this bot's updates at the same time, so recent chats "
            "cannot be listed now. Try again later or enter the chat id by hand"
        )
    return f"{reason} (Telegram: {description})"


def _hint(description: str, parameters: Mapping[str, Any]) -> str:
    """Return advice for a known refusal, or an empty string."""
    new_chat_id = parameters.get("migrate_to_chat_id")
    if new_chat_id is not None:
        return f"The group became a supergroup; use chat id {new_chat_id} instead."
    lowered = description.lower()
    return next((hint for fragment, hint in HINTS if fragment in lowered), "")


def _envelope_or_empty(response: HttpResponse) -> Mapping[str, Any]:
    """Return the JSON envelope of an answer, or an empty one for HTML or text pages."""
    try:
        body = response.json()
    except ValueError:
        return {"description": excerpt(response.text)} if _is_plain_text(response) else {}
    return body if isinstance(body, Mapping) else {}


def _is_plain_text(response: HttpResponse) -> bool:
    """Tell a short text answer worth quoting from an HTML error page that is not."""
    content_type = response.headers.get("Content-Type", "").lower()
    text = response.text.strip()
    return bool(text) and "html" not in content_type and not text.startswith("<")


def _parameters(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the envelope's ResponseParameters (retry_after, migrate_to_chat_id)."""
    parameters = envelope.get("parameters")
    return parameters if isinstance(parameters, Mapping) else {}


def _mapping(result: Any, method: str) -> Mapping[str, Any]:
    """Return a result that must be an object, refusing anything else."""
    if not isinstance(result, Mapping):
        raise ConnectorError(f"Telegram's answer to {method} carries no object")
    return result


def _masked(error: ConnectorError, secrets: tuple[str, ...]) -> ConnectorError:
    """Return a copy of the error with every form of the token replaced by a mask."""

    def mask(text: str | None) -> str | None:
        if text is None:
            return None
        for secret in secrets:
            text = text.replace(secret, TOKEN_MASK)
        return text

    message = mask(error.message) or ""
    said = mask(error.service_message)
    if isinstance(error, RetryableError):
        return RetryableError(
            message, retry_after=error.retry_after, service_message=said, status=error.status
        )
    return type(error)(message, service_message=said, status=error.status)


def _recent_chats(updates: list[Any]) -> list[dict[str, Any]]:
    """Return each chat found in the updates once, the most recently active first."""
    chats: dict[Any, dict[str, Any]] = {}
    for update in reversed(updates):
        chat = _chat_in(update)
        if chat is not None and chat["id"] not in chats:
            chats[chat["id"]] = _chat_summary(chat)
    return list(chats.values())


def _chat_in(update: Any) -> Mapping[str, Any] | None:
    """Find the chat of an update, whatever its kind (message, channel post, member change)."""
    if not isinstance(update, Mapping):
        return None
    for content in update.values():
        if not isinstance(content, Mapping):
            continue
        # Callback queries carry their chat inside the message the button belongs to.
        holder = content.get("message") if "chat" not in content else content
        chat = holder.get("chat") if isinstance(holder, Mapping) else None
        if isinstance(chat, Mapping) and "id" in chat:
            return chat
    return None


def _chat_summary(chat: Mapping[str, Any]) -> dict[str, Any]:
    """Describe a chat for the chat picker: id, a readable title, type and username."""
    full_name = " ".join(str(chat.get(part) or "") for part in ("first_name", "last_name"))
    username = str(chat.get("username") or "")
    title = str(chat.get("title") or "").strip() or full_name.strip() or username
    return {
        "id": chat["id"],
        "title": title or str(chat["id"]),
        "type": str(chat.get("type") or ""),
        "username": username,
    }
