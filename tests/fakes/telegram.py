"""A local fake of the Telegram Bot API (getMe, sendMessage, getUpdates) with inspectable state."""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.server import FakeServer, RecordedRequest, Reply, reply

TOKEN = "7012345678:AAHfake-Token_for_tests0123456789ab"
BOT = {
    "id": 7012345678,
    "is_bot": True,
    "first_name": "Shop Bot",
    "username": "shop_notify_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_TEXT_CHARS = 4096
MAX_UPDATES = 100
# Who writes in groups and channels unless a test says otherwise.
GROUP_MEMBER = {"id": 1862408896, "is_bot": False, "first_name": "Tuan", "language_code": "en"}
FIRST_UPDATE_ID = 686586677
FIRST_MESSAGE_ID = 512
FIXED_NOW = 1717000000
METHOD_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[^/]+)")
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
# The tags Telegram's HTML parse mode supports; any other tag is refused.
HTML_STYLE_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del"})
HTML_TAGS = HTML_STYLE_TAGS | {"a", "code", "pre", "span", "tg-spoiler", "tg-emoji", "blockquote"}
MARKDOWN_V2_MARKS = frozenset("*_~`|")
MARKDOWN_V2_RESERVED = frozenset("[]()>#+-={}.!")
MARKDOWN_V2_LINK = re.compile(r"(?<!\\)\[([^\]]*)\]\(([^)]*)\)")
SERVER_HEADER = {"Server": "nginx/1.18.0"}


class TelegramError(Exception):
    """Carry an error answer: HTTP status (= error_code), description and parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class FakeTelegram(FakeServer):
    """Serve a fake Bot API on 127.0.0.1 for one bot, recording every request it receives."""

    methods = ("GET", "POST")

    def __init__(self, *, token: str = TOKEN, bot: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.token = token
        self.bot = dict(bot or BOT)
        # State tests preload and inspect; chats are keyed by their numeric id.
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.blocked: set[int] = set()
        self.migrated: dict[int, int] = {}
        self.webhook_url: str | None = None
        self.allowed_updates: list[str] | None = None
        self.now = FIXED_NOW
        # Failure knobs: seconds to wait before each answer, and flood control after a
        # number of authorised calls (None: never).
        self.delay = 0.0
        self.flood_after_calls: int | None = None
        self.retry_after = 34
        self._scripted: deque[Reply] = deque()
        self._authorised_calls = 0
        self._next_update_id = FIRST_UPDATE_ID
        self._next_message_id = FIRST_MESSAGE_ID

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        title: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Add a chat the bot can write to, shaped like Telegram's Chat object."""
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        named = {"title": title, "first_name": first_name, "last_name": last_name}
        chat.update({key: value for key, value in named.items() if value is not None})
        if username is not None:
            chat["username"] = username
        with self._lock:
            self.chats[chat_id] = chat
        return chat

    def user_writes(self, chat_id: int, text: str) -> dict[str, Any]:
        """Queue the update Telegram makes when someone writes to the bot in a known chat."""
        chat = self.chats[chat_id]
        message: dict[str, Any] = {"message_id": self._take_message_id()}
        if chat["type"] == "channel":
            # Channel posts are signed by the channel itself, not by a user.
            message["sender_chat"] = chat
        elif chat["type"] == "private":
            # In a private chat the chat id is the user's id and the names are the user's.
            message["from"] = {
                "id": chat_id,
                "is_bot": False,
                "first_name": chat.get("first_name", ""),
            }
        else:
            message["from"] = dict(GROUP_MEMBER)
        message.update({"chat": chat, "date": self.now, "text": text})
        kind = "channel_post" if chat["type"] == "channel" else "message"
        return self.add_update(kind, message)

    def add_update(self, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of any kind (message, my_chat_member, callback_query...)."""
        with self._lock:
            update = {"update_id": self._next_update_id, kind: content}
            self._next_update_id += 1
            self.updates.append(update)
        return update

    def block(self, chat_id: int) -> None:
        """Make the user of a private chat block the bot."""
        self.blocked.add(chat_id)

    def migrate(self, chat_id: int, to_chat_id: int) -> None:
        """Turn a group into a supergroup with a new id, as Telegram does on upgrade."""
        chat = self.chats.pop(chat_id)
        self.add_chat(to_chat_id, chat_type="supergroup", title=chat.get("title"))
        self.migrated[chat_id] = to_chat_id

    def fail_next(
        self, status: int, description: str, *, parameters: dict[str, Any] | None = None
    ) -> None:
        """Answer the next request with a Telegram error envelope."""
        self._script(_error_answer(TelegramError(status, description, parameters)))

    def flood_next(self, retry_after: int | None = None) -> None:
        """Answer the next request with flood control (429 and parameters.retry_after)."""
        self._script(_error_answer(_flood(retry_after or self.retry_after)))

    def answer_next(self, status: int, body: str, content_type: str = "text/html") -> None:
        """Answer the next request with a raw body, as a proxy in front of Telegram might."""
        self._script(reply(status, body, {**SERVER_HEADER, "Content-Type": content_type}))

    def _script(self, answer: Reply) -> None:
        """Queue an answer that takes precedence over normal handling."""
        with self._lock:
            self._scripted.append(answer)

    def _take_message_id(self) -> int:
        """Return the next message id."""
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
        return message_id

    def respond(self, request: RecordedRequest) -> Reply:
        """Record a request and compute its answer, sent after the configured delay."""
        return replace(self._answer(request), delay=self.delay)

    def _answer(self, request: RecordedRequest) -> Reply:
        """Record a request and compute its answer."""
        with self._lock:
            self._log.append(request)
            if self._scripted:
                return self._scripted.popleft()
        try:
            return _result_answer(self._handle(request))
        except TelegramError as error:
            return _error_answer(error)

    def _handle(self, request: RecordedRequest) -> Any:
        """Check the token and flood control, then run the method."""
        match = METHOD_PATH.fullmatch(request.path)
        # Telegram answers 404 for paths that are not /bot<token>/<method> and for
        # malformed tokens, 401 for well-formed tokens it does not know.
        if match is None or not TOKEN_SHAPE.fullmatch(match["token"]):
            raise TelegramError(404, "Not Found")
        if match["token"] != self.token:
            raise TelegramError(401, "Unauthorized")
        self._count_call()
        handler = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "getupdates": self._get_updates,
        }.get(match["method"].lower())
        if handler is None:
            raise TelegramError(404, "Not Found")
        return handler(_params_of(request))

    def _count_call(self) -> None:
        """Apply flood control once the configured number of calls is used up."""
        with self._lock:
            self._authorised_calls += 1
            over = self.flood_after_calls is not None
            if over and self._authorised_calls > self.flood_after_calls:
                raise _flood(self.retry_after)

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        """Return the bot's User object."""
        return dict(self.bot)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """Deliver a text message to a known chat and return the Message object."""
        chat = self._chat_for(params.get("chat_id"))
        text = str(params.get("text") or "")
        if not text.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        _object_param(params, "link_preview_options")
        shown = _rendered(text, str(params.get("parse_mode") or ""))
        if len(shown) > MAX_TEXT_CHARS:
            raise TelegramError(400, "Bad Request: message is too long")
        if not shown.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        sender = {key: self.bot[key] for key in ("id", "is_bot", "first_name", "username")}
        message = {
            "message_id": self._take_message_id(),
            "from": sender,
            "chat": chat,
            "date": self.now,
            "text": shown,
        }
        with self._lock:
            self.messages.append(message)
        return message

    def _chat_for(self, value: Any) -> dict[str, Any]:
        """Find the chat a chat_id names, with Telegram's errors for the usual mistakes."""
        if value in (None, ""):
            raise TelegramError(400, "Bad Request: chat_id is empty")
        text = str(value).strip()
        if text.startswith("@"):
            found = [chat for chat in self.chats.values() if chat.get("username") == text[1:]]
            if not found or found[0]["type"] == "private":
                raise TelegramError(400, "Bad Request: chat not found")
            return found[0]
        try:
            chat_id = int(text)
        except ValueError:
            raise TelegramError(400, "Bad Request: chat not found") from None
        if chat_id in self.migrated:
            raise TelegramError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id not in self.chats:
            raise TelegramError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")
        return self.chats[chat_id]

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Return pending updates; a positive offset confirms (deletes) the earlier ones."""
        if self.webhook_url:
            raise TelegramError(409, WEBHOOK_CONFLICT)
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", MAX_UPDATES), 1), MAX_UPDATES)
        allowed = _object_param(params, "allowed_updates")
        with self._lock:
            if allowed is not None:
                # Telegram keeps allowed_updates as a lasting setting of the bot.
                self.allowed_updates = list(allowed)
            if offset > 0:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            elif offset < 0:
                # A negative offset reads from the end and forgets everything before it.
                self.updates = self.updates[offset:]
            wanted = [u for u in self.updates if self._is_allowed(u)]
            return wanted[:limit]

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        """Tell whether the bot's allowed_updates setting lets an update through."""
        if not self.allowed_updates:
            return True
        return any(kind in update for kind in self.allowed_updates)


def _params_of(request: RecordedRequest) -> dict[str, Any]:
    """Merge parameters from the query string and a JSON or form body."""
    params: dict[str, Any] = dict(parse_qsl(request.query, keep_blank_values=True))
    if not request.body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = json.loads(request.body)
        except ValueError:
            raise TelegramError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise TelegramError(400, "Bad Request: JSON object expected")
        params.update(body)
    elif content_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
    else:
        raise TelegramError(400, f"Bad Request: the fake does not read {content_type!r} bodies")
    return params


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    """Read an integer parameter that may arrive as JSON or as text."""
    value = params.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TelegramError(400, f"Bad Request: invalid {name}") from None


def _object_param(params: dict[str, Any], name: str) -> Any:
    """Read a structured parameter: JSON natively, or JSON-encoded text in query or form."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise TelegramError(400, f"Bad Request: can't parse {name} JSON object") from None


def _rendered(text: str, parse_mode: str) -> str:
    """Return the text a user sees once the parse mode's markup is applied."""
    if parse_mode == "":
        return text
    if parse_mode == "HTML":
        return _HtmlText.render(text)
    if parse_mode == "MarkdownV2":
        return _markdown_v2_text(text)
    if parse_mode == "Markdown":
        return re.sub(r"[*_`]", "", text)
    raise TelegramError(400, "Bad Request: unsupported parse_mode")


class _HtmlText(HTMLParser):
    """Strip Telegram's supported HTML tags, refusing others and unclosed ones."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open_tags: list[str] = []

    @classmethod
    def render(cls, text: str) -> str:
        """Return the plain text of a Telegram HTML message."""
        parser = cls()
        parser.feed(text)
        parser.close()
        if parser.open_tags:
            unclosed = parser.open_tags[-1]
            raise _entity_error(f'Can\'t find end tag corresponding to start tag "{unclosed}"')
        return "".join(parser.parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise _entity_error(f'Unsupported start tag "{tag}"')
        self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags or self.open_tags[-1] != tag:
            raise _entity_error(f'Unmatched end tag "{tag}"')
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _markdown_v2_text(text: str) -> str:
    """Approximate MarkdownV2: drop marks, keep link text, refuse unescaped reserved chars."""
    text = MARKDOWN_V2_LINK.sub(r"\1", text)
    shown: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            shown.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in MARKDOWN_V2_RESERVED:
            raise _entity_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        elif char not in MARKDOWN_V2_MARKS:
            shown.append(char)
    return "".join(shown)


def _entity_error(reason: str) -> TelegramError:
    """Return Telegram's error for text that does not follow its parse mode."""
    return TelegramError(400, f"Bad Request: can't parse entities: {reason}")


def _flood(retry_after: int) -> TelegramError:
    """Return Telegram's flood-control error."""
    return TelegramError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def _json_answer(status: int, body: dict[str, Any]) -> Reply:
    """Return a JSON answer with the headers Telegram's nginx sends."""
    headers = {**SERVER_HEADER, "Content-Type": "application/json"}
    return reply(status, body, headers, ensure_ascii=False)


def _result_answer(result: Any) -> Reply:
    """Wrap a result in the success envelope."""
    return _json_answer(200, {"ok": True, "result": result})


def _error_answer(error: TelegramError) -> Reply:
    """Wrap an error in the failure envelope; the HTTP status equals error_code."""
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.parameters:
        body["parameters"] = error.parameters
    return _json_answer(error.status, body)
