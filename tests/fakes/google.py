"""A fake of Google's OAuth 2.0 endpoints and the Sheets API v4, served on 127.0.0.1.

One server plays both hosts: accounts.google.com (/o/oauth2/v2/auth), oauth2.googleapis.com
(/token) and sheets.googleapis.com (/v4/spreadsheets/...). It keeps spreadsheets, grants and
access tokens in memory and records every request, so tests assert the exact bytes sent.

Behaviour copied from api-notes.md sections 1 and 9: the range is a percent-encoded path segment
with an optional ":append" suffix; valueInputOption is required on writes; `values` is left out
for an empty range; trailing empty cells and rows are trimmed; ranges beyond the grid are refused
("exceeds grid limits"); errors use the {"error": {code, message, status}} envelope; quota
errors are 429 RESOURCE_EXHAUSTED; an unknown or expired access token is 401 UNAUTHENTICATED.
Where Google's exact wording is unconfirmed, the messages below are plausible stand-ins.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from tests.fakes.server import FakeServer, RecordedRequest, Reply, reply

AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
SHEETS_PREFIX = "/v4/spreadsheets/"
SPREADSHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
READONLY_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
DRIVE_SCOPES = (
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
)
WRITE_SCOPES = frozenset({SPREADSHEETS_SCOPE, *DRIVE_SCOPES})
READ_SCOPES = WRITE_SCOPES | {READONLY_SCOPE, "https://www.googleapis.com/auth/drive.readonly"}
ACCESS_TOKEN_LIFETIME = 3599
DEFAULT_ROW_COUNT = 1000
DEFAULT_COLUMN_COUNT = 26
VALUE_INPUT_OPTIONS = ("RAW", "USER_ENTERED")
INSERT_DATA_OPTIONS = ("OVERWRITE", "INSERT_ROWS")
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
QUOTA_MESSAGE = (
    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per "
    "user' of service 'sheets.googleapis.com' for consumer 'project_number:973891363924'."
)
CELL = re.compile(r"([A-Za-z]{0,3})([0-9]*)")
# Typed text Sheets reads as a number (so "+7999..." loses its plus, as in the real product).
NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
BARE_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CELL_LIKE_TITLE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")
JSON_TYPE = "application/json; charset=UTF-8"
NOT_FOUND_PAGE = (
    "<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1</title>"
    "<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL was not found on this "
    "server. <ins>That’s all we know.</ins></html>"
)


@dataclass
class FakeSheet:
    """One tab: its cells as rows of values (missing cells are empty) and its grid size."""

    sheet_id: int
    title: str
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = DEFAULT_ROW_COUNT
    column_count: int = DEFAULT_COLUMN_COUNT


@dataclass
class FakeSpreadsheet:
    """One spreadsheet file; `shared` False makes every call 403 PERMISSION_DENIED."""

    spreadsheet_id: str
    title: str
    sheets: list[FakeSheet] = field(default_factory=list)
    shared: bool = True

    def sheet(self, title: str) -> FakeSheet | None:
        """Return the tab with this title, or None."""
        return next((sheet for sheet in self.sheets if sheet.title == title), None)


@dataclass
class Grant:
    """A user's consent, represented by its refresh token."""

    refresh_token: str
    scope: str
    revoked: bool = False


@dataclass
class AccessToken:
    """An issued access token and when it stops working (Unix time)."""

    scope: str
    expires_at: float


@dataclass
class AuthorizationCode:
    """A one-time code handed out by the authorize page."""

    redirect_uri: str
    scope: str
    code_challenge: str = ""


# One HTTP answer; delay is waited before it is written.
Answer = Reply


class GoogleError(Exception):
    """An API failure answered with Google's JSON error envelope."""

    def __init__(self, code: int, status: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.extra = extra

    def answer(self, headers: Mapping[str, str] | None = None) -> Answer:
        """Return the error as an HTTP answer."""
        body = {"error": {"code": self.code, "message": self.message, "status": self.status}}
        body["error"].update(self.extra)
        return json_answer(self.code, body, headers)


@dataclass(frozen=True)
class GridRange:
    """A resolved A1 range: the tab and 1-based inclusive bounds."""

    sheet: FakeSheet
    first_row: int
    first_column: int
    last_row: int
    last_column: int

    def a1(self) -> str:
        """Return the range the way Google echoes it: sheet name plus bounded cells."""
        return a1_range(
            self.sheet.title, self.first_row, self.first_column, self.last_row, self.last_column
        )


class FakeGoogle(FakeServer):
    """Serve fake Google OAuth and Sheets endpoints on a free local port."""

    # The Sheets API address, with the trailing slash of the real default.
    base_path = "/"

    def __init__(
        self,
        *,
        client_id: str = "svyazka-test.apps.googleusercontent.com",
        client_secret: str = "GOCSPX-fake-client-secret",
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock: Callable[[], float] = time.time
        # Fault switches: rate_limit_after lets that many Sheets calls through, then 429s;
        # retry_after adds a Retry-After header to those 429s; delay slows every Sheets call.
        self.rate_limit_after: int | None = None
        self.retry_after: int | None = None
        self.delay = 0.0
        # The authorize page approves automatically unless told the user said no.
        self.deny_consent = False
        self.spreadsheets: dict[str, FakeSpreadsheet] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.sheets_calls = 0
        self._next_sheet_id = 0
        self._injected: deque[tuple[str, Answer]] = deque()

    # --- addresses and connection settings ------------------------------------------------

    @property
    def token_url(self) -> str:
        """Return the token endpoint address."""
        return f"{self.url}{TOKEN_PATH}"

    @property
    def authorize_url(self) -> str:
        """Return the consent page address."""
        return f"{self.url}{AUTHORIZE_PATH}"

    def connector_config(self, **extra: Any) -> dict[str, Any]:
        """Return a Google Sheets connection config pointing at this fake."""
        return {
            "base_url": self.base_url,
            "token_url": self.token_url,
            "authorize_url": self.authorize_url,
            "oauth_client_id": self.client_id,
            "oauth_client_secret": self.client_secret,
            **extra,
        }

    # --- preloading and inspecting state ------------------------------------------------

    def add_spreadsheet(
        self,
        spreadsheet_id: str,
        title: str = "Leads 2025",
        sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
        *,
        shared: bool = True,
    ) -> FakeSpreadsheet:
        """Create a spreadsheet whose tabs hold the given rows (default: one empty Sheet1)."""
        with self._lock:
            book = FakeSpreadsheet(spreadsheet_id, title, shared=shared)
            self.spreadsheets[spreadsheet_id] = book
        for sheet_title, rows in (sheets if sheets is not None else {"Sheet1": []}).items():
            self.add_sheet(spreadsheet_id, sheet_title, rows)
        return book

    def add_sheet(
        self,
        spreadsheet_id: str,
        title: str,
        rows: Iterable[Sequence[Any]] = (),
        *,
        row_count: int = DEFAULT_ROW_COUNT,
        column_count: int = DEFAULT_COLUMN_COUNT,
    ) -> FakeSheet:
        """Add a tab to a spreadsheet."""
        with self._lock:
            sheet = FakeSheet(
                self._new_sheet_id(), title, [list(row) for row in rows], row_count, column_count
            )
            self.spreadsheets[spreadsheet_id].sheets.append(sheet)
            return sheet

    def sheet(self, spreadsheet_id: str, title: str) -> FakeSheet:
        """Return a tab for direct inspection or change."""
        found = self.spreadsheets[spreadsheet_id].sheet(title)
        if found is None:
            raise KeyError(f"No sheet {title!r} in {spreadsheet_id}")
        return found

    def rows(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """Return a tab's rows as stored, trailing empty cells and rows trimmed."""
        with self._lock:
            return trimmed_rows(self.sheet(spreadsheet_id, title).rows)

    def add_rows(self, spreadsheet_id: str, title: str, *rows: Sequence[Any]) -> None:
        """Type rows below the last filled row, as a person editing the sheet would."""
        with self._lock:
            sheet = self.sheet(spreadsheet_id, title)
            sheet.rows = trimmed_rows(sheet.rows) + [list(row) for row in rows]
            sheet.row_count = max(sheet.row_count, len(sheet.rows))

    def issue_tokens(
        self, *, scope: str = SPREADSHEETS_SCOPE, lifetime: int = ACCESS_TOKEN_LIFETIME
    ) -> dict[str, Any]:
        """Grant consent directly and return the tokens as a connection's secrets."""
        with self._lock:
            refresh_token = self._new_grant(scope)
            access_token = self._new_access_token(scope, lifetime)
            return {
                "access_token": access_token,
                "refresh_token": refresh_token,
                "expires_at": self.clock() + lifetime,
                "scope": scope,
                "token_type": "Bearer",
            }

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far stop working."""
        with self._lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def revoke(self, refresh_token: str) -> None:
        """Revoke a grant, as a user removing the app from their Google account does."""
        with self._lock:
            self.grants[refresh_token].revoked = True

    def inject(
        self,
        status: int,
        body: bytes | str | dict | list | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        path_prefix: str = SHEETS_PREFIX,
    ) -> None:
        """Answer the next request whose path starts with path_prefix with this instead."""
        with self._lock:
            self._injected.append((path_prefix, _answer(status, body, headers, delay)))

    def rate_limited_answer(self) -> Answer:
        """Return Google's 429 RESOURCE_EXHAUSTED answer (api-notes 1.5)."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        error = GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            QUOTA_MESSAGE,
            errors=[{"message": QUOTA_MESSAGE, "domain": "global", "reason": "rateLimitExceeded"}],
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "quota_metric": "sheets.googleapis.com/read_requests",
                        "quota_limit": "ReadRequestsPerMinutePerUser",
                        "quota_limit_value": "60",
                        "service": "sheets.googleapis.com",
                        "consumer": "projects/973891363924",
                    },
                }
            ],
        )
        return error.answer(headers)

    def sheets_requests(self) -> list[RecordedRequest]:
        """Return the requests made to the Sheets API only."""
        return [item for item in self.requests if item.path.startswith(SHEETS_PREFIX)]

    def token_requests(self) -> list[RecordedRequest]:
        """Return the requests made to the token endpoint only."""
        return [item for item in self.requests if item.path == TOKEN_PATH]

    # --- request handling ---------------------------------------------------------------

    def respond(self, request: RecordedRequest) -> Answer:
        """Answer a request through handle()."""
        return self.handle(request)

    def handle(self, request: RecordedRequest) -> Answer:
        """Record a request and compute its answer."""
        with self._lock:
            self._log.append(request)
            injected = self._take_injected(request.path)
            if injected is not None:
                return injected
            if request.path == AUTHORIZE_PATH and request.method == "GET":
                return self._authorize(request)
            if request.path == TOKEN_PATH and request.method == "POST":
                return self._token(request)
            if request.path.startswith(SHEETS_PREFIX):
                return self._sheets(request)
            return _answer(404, NOT_FOUND_PAGE, {"Content-Type": "text/html; charset=UTF-8"})

    def _take_injected(self, path: str) -> Answer | None:
        """Pop the first injected answer meant for this path, if any."""
        for index, (prefix, answer) in enumerate(self._injected):
            if path.startswith(prefix):
                del self._injected[index]
                return answer
        return None

    # --- OAuth ----------------------------------------------------------------------------

    def _authorize(self, request: RecordedRequest) -> Answer:
        """Approve the consent page at once and redirect back with a code and the state."""
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        if query.get("client_id") != self.client_id:
            return _html_error(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return _html_error(400, "Error 400: invalid_request", "Missing redirect_uri.")
        if query.get("response_type") != "code":
            return _html_error(
                400, "Error 400: unsupported_response_type", "Only response_type=code is supported."
            )
        challenge = query.get("code_challenge", "")
        if challenge and query.get("code_challenge_method") != "S256":
            return _html_error(
                400, "Error 400: invalid_request", "code_challenge_method must be S256."
            )
        if self.deny_consent:
            params = {"error": "access_denied", "state": query.get("state", "")}
            return _redirect(redirect_uri, params)
        code = f"4/0fake-{secrets.token_hex(12)}"
        scope = query.get("scope", "")
        self.codes[code] = AuthorizationCode(redirect_uri, scope, challenge)
        return _redirect(
            redirect_uri, {"state": query.get("state", ""), "code": code, "scope": scope}
        )

    def _token(self, request: RecordedRequest) -> Answer:
        """Answer the token endpoint for authorization_code and refresh_token grants."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Invalid content type; send a form.")
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        if form.get("client_id") != self.client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange(self, form: Mapping[str, str]) -> Answer:
        """Trade a one-time code for tokens, checking the redirect URI and PKCE verifier."""
        issued = self.codes.pop(form.get("code", ""), None)
        if issued is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != issued.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if issued.code_challenge:
            verifier = form.get("code_verifier", "")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if s256(verifier) != issued.code_challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        refresh_token = self._new_grant(issued.scope)
        body = self._access_token_body(issued.scope)
        body["refresh_token"] = refresh_token
        return json_answer(200, body)

    def _refresh(self, form: Mapping[str, str]) -> Answer:
        """Issue a new access token for a live grant; Google sends no new refresh token."""
        grant = self.grants.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return json_answer(200, self._access_token_body(grant.scope))

    def _access_token_body(self, scope: str) -> dict[str, Any]:
        """Return a fresh token answer without a refresh token."""
        access_token = self._new_access_token(scope, ACCESS_TOKEN_LIFETIME)
        return {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": scope,
            "token_type": "Bearer",
        }

    def _new_grant(self, scope: str) -> str:
        """Store a new grant and return its refresh token."""
        refresh_token = f"1//0fake-{secrets.token_hex(16)}"
        self.grants[refresh_token] = Grant(refresh_token, scope)
        return refresh_token

    def _new_access_token(self, scope: str, lifetime: float) -> str:
        """Store a new access token and return it."""
        token = f"ya29.fake-{secrets.token_hex(16)}"
        self.access_tokens[token] = AccessToken(scope, self.clock() + lifetime)
        return token

    def _new_sheet_id(self) -> int:
        """Return the next sheetId; the first tab gets 0, as in Google."""
        self._next_sheet_id += 1
        return 0 if self._next_sheet_id == 1 else 1834623541 + self._next_sheet_id

    # --- Sheets API -------------------------------------------------------------------------

    def _sheets(self, request: RecordedRequest) -> Answer:
        """Check auth and quota, then route a Sheets API call."""
        self.sheets_calls += 1
        delay = self.delay
        try:
            scope = self._authenticated_scope(request)
            if self.rate_limit_after is not None and self.sheets_calls > self.rate_limit_after:
                return _delayed(self.rate_limited_answer(), delay)
            answer = self._route(request, scope)
        except GoogleError as error:
            headers = {}
            if error.code == 401:
                headers["WWW-Authenticate"] = (
                    'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                )
            answer = error.answer(headers)
        return _delayed(answer, delay)

    def _authenticated_scope(self, request: RecordedRequest) -> set[str]:
        """Return the scopes of the request's access token, or raise 401 UNAUTHENTICATED."""
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        token = token or parse_qs(request.query).get("access_token", [""])[0]
        if not token:
            raise GoogleError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        issued = self.access_tokens.get(token)
        if issued is None or issued.expires_at <= self.clock():
            raise GoogleError(401, "UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE)
        return set(issued.scope.split())

    def _route(self, request: RecordedRequest, scope: set[str]) -> Answer:
        """Dispatch to spreadsheets.get, values.get, values.append or values.update."""
        segments = request.path[len(SHEETS_PREFIX) :].split("/")
        query = parse_qs(request.query, keep_blank_values=True)
        book_id = unquote(segments[0])
        if len(segments) == 1 and request.method == "GET":
            book = self._readable_book(book_id, scope)
            return json_answer(200, masked(spreadsheet_resource(book), query.get("fields")))
        if len(segments) != 3 or segments[1] != "values":
            return _answer(404, NOT_FOUND_PAGE, {"Content-Type": "text/html; charset=UTF-8"})
        raw_range = segments[2]
        if raw_range.endswith(":append") and request.method == "POST":
            book = self._writable_book(book_id, scope)
            return json_answer(200, append_values(book, unquote(raw_range[:-7]), query, request))
        if request.method == "GET":
            book = self._readable_book(book_id, scope)
            return json_answer(200, get_values(book, unquote(raw_range), query))
        if request.method == "PUT":
            book = self._writable_book(book_id, scope)
            return json_answer(200, update_values(book, unquote(raw_range), query, request))
        return _answer(404, NOT_FOUND_PAGE, {"Content-Type": "text/html; charset=UTF-8"})

    def _readable_book(self, book_id: str, scope: set[str]) -> FakeSpreadsheet:
        """Return a spreadsheet the token may read."""
        return self._book(book_id, scope, READ_SCOPES)

    def _writable_book(self, book_id: str, scope: set[str]) -> FakeSpreadsheet:
        """Return a spreadsheet the token may change."""
        return self._book(book_id, scope, WRITE_SCOPES)

    def _book(self, book_id: str, scope: set[str], needed: frozenset[str]) -> FakeSpreadsheet:
        """Return a spreadsheet after the scope, existence and sharing checks."""
        if not scope & needed:
            raise GoogleError(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
            )
        book = self.spreadsheets.get(book_id)
        if book is None:
            raise GoogleError(404, "NOT_FOUND", "Requested entity was not found.")
        if not book.shared:
            raise GoogleError(403, "PERMISSION_DENIED", "The caller does not have permission")
        return book


# --- Sheets behaviour -------------------------------------------------------------------------


def spreadsheet_resource(book: FakeSpreadsheet) -> dict[str, Any]:
    """Return a Spreadsheet resource (shape per schema, api-notes 1.3)."""
    return {
        "spreadsheetId": book.spreadsheet_id,
        "properties": {"title": book.title, "locale": "ru_RU", "timeZone": "Europe/Moscow"},
        "sheets": [
            {
                "properties": {
                    "sheetId": sheet.sheet_id,
                    "title": sheet.title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {
                        "rowCount": sheet.row_count,
                        "columnCount": sheet.column_count,
                    },
                }
            }
            for index, sheet in enumerate(book.sheets)
        ],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
    }


def masked(resource: Any, fields: list[str] | None) -> Any:
    """Keep only the dotted paths listed in a `fields` mask (no parenthesised sub-masks)."""
    if not fields:
        return resource
    paths = [path.strip().split(".") for text in fields for path in text.split(",")]
    return _masked(resource, [path for path in paths if path != [""]])


def _masked(value: Any, paths: list[list[str]]) -> Any:
    """Apply split field paths to a value; lists apply them to each element."""
    if any(not path for path in paths):
        return value
    if isinstance(value, list):
        return [_masked(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept = {}
    for key, item in value.items():
        below = [path[1:] for path in paths if path[0] == key]
        if below:
            kept[key] = _masked(item, below)
    return kept


def get_values(book: FakeSpreadsheet, text: str, query: Mapping[str, list[str]]) -> dict:
    """Answer values.get: the echoed range plus trimmed values, left out when empty."""
    grid = resolve_range(book, text)
    dimension = _one(query, "majorDimension", "ROWS")
    if dimension not in ("ROWS", "COLUMNS"):
        raise GoogleError(
            400, "INVALID_ARGUMENT", f"Invalid value at 'major_dimension', \"{dimension}\""
        )
    render = _one(query, "valueRenderOption", "FORMATTED_VALUE")
    cell = formatted if render == "FORMATTED_VALUE" else unformatted
    rows = [
        [
            cell(value)
            for value in _row(grid.sheet, number)[grid.first_column - 1 : grid.last_column]
        ]
        for number in range(grid.first_row, min(grid.last_row, len(grid.sheet.rows)) + 1)
    ]
    if dimension == "COLUMNS":
        rows = [list(column) for column in zip_longest(*rows, fillvalue="")]
    body: dict[str, Any] = {"range": grid.a1(), "majorDimension": dimension}
    values = trimmed_rows(rows)
    if values:
        body["values"] = values
    return body


def append_values(
    book: FakeSpreadsheet, text: str, query: Mapping[str, list[str]], request: RecordedRequest
) -> dict:
    """Answer values.append: find the table in the range and write below it."""
    input_option = _value_input_option(query)
    insert = _one(query, "insertDataOption", "OVERWRITE")
    if insert not in INSERT_DATA_OPTIONS:
        raise GoogleError(
            400, "INVALID_ARGUMENT", f"Invalid value at 'insert_data_option', \"{insert}\""
        )
    grid = resolve_range(book, text)
    values = _body_values(request, text)
    table = _table(grid)
    target = table.last_row + 1 if table else grid.first_row
    width = max((len(row) for row in values), default=0)
    sheet = grid.sheet
    if grid.first_column + width - 1 > sheet.column_count:
        beyond = a1_range(
            sheet.title, target, sheet.column_count + 1, target, sheet.column_count + 1
        )
        raise _grid_error(beyond, sheet)
    if insert == "INSERT_ROWS":
        index = min(target - 1, len(sheet.rows))
        sheet.rows[index:index] = [[] for _ in values]
        sheet.row_count += len(values)
    sheet.row_count = max(sheet.row_count, target + len(values) - 1)
    written = write_cells(sheet, target, grid.first_column, values, input_option)
    response: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if table:
        response["tableRange"] = table.a1()
    response["updates"] = _updates(book, sheet, target, grid.first_column, values, written)
    return response


def update_values(
    book: FakeSpreadsheet, text: str, query: Mapping[str, list[str]], request: RecordedRequest
) -> dict:
    """Answer values.update: write inside the given range; null cells are left alone."""
    input_option = _value_input_option(query)
    grid = resolve_range(book, text)
    values = _body_values(request, text)
    height = len(values)
    width = max((len(row) for row in values), default=0)
    if grid.first_row + height - 1 > grid.last_row:
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            f"Requested writing within range [{text}], but tried writing to row "
            f"[{grid.first_row + height - 1}]",
        )
    if grid.first_column + width - 1 > grid.last_column:
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            f"Requested writing within range [{text}], but tried writing to column "
            f"[{column_letter(grid.first_column + width - 1)}]",
        )
    written = write_cells(grid.sheet, grid.first_row, grid.first_column, values, input_option)
    return {
        "spreadsheetId": book.spreadsheet_id,
        **_updates(book, grid.sheet, grid.first_row, grid.first_column, values, written),
    }


def write_cells(
    sheet: FakeSheet, first_row: int, first_column: int, values: list[list[Any]], option: str
) -> int:
    """Write values into a sheet from a corner; return how many cells were written."""
    written = 0
    for row_offset, row in enumerate(values):
        cells = _row(sheet, first_row + row_offset, create=True)
        for column_offset, value in enumerate(row):
            if value is None:
                continue  # null leaves the cell as it was (api-notes 1.3)
            index = first_column - 1 + column_offset
            cells.extend([""] * (index + 1 - len(cells)))
            cells[index] = entered(value, option)
            written += 1
    return written


def entered(value: Any, option: str) -> Any:
    """Return what a cell stores: USER_ENTERED turns numeric text into numbers, as typing does."""
    if option != "USER_ENTERED" or not isinstance(value, str) or not NUMBER.fullmatch(value):
        return value
    number = float(value.replace(",", "."))
    return int(number) if number.is_integer() else number


def resolve_range(book: FakeSpreadsheet, text: str) -> GridRange:
    """Turn A1 text into a grid range, refusing unknown sheets and ranges beyond the grid."""
    title, cells = split_range(text)
    if title is not None:
        sheet = book.sheet(title)
    elif book.sheet(text) is not None:
        sheet, cells = book.sheet(text), ""  # a whole tab named without "!"
    else:
        sheet = book.sheets[0] if book.sheets else None  # bare cells mean the first tab
    bounds = _bounds(cells, sheet) if sheet else None
    if sheet is None or bounds is None:
        raise GoogleError(400, "INVALID_ARGUMENT", f"Unable to parse range: {text}")
    first_row, first_column, last_row, last_column = bounds
    if last_row > sheet.row_count or last_column > sheet.column_count:
        raise _grid_error(text, sheet)
    return GridRange(sheet, first_row, first_column, last_row, last_column)


def split_range(text: str) -> tuple[str | None, str]:
    """Split "'My ''x'' sheet'!A1:B2" into the title and the cells; title None if absent."""
    if text.startswith("'"):
        index = 1
        while index < len(text):
            if text[index] == "'" and text[index + 1 : index + 2] == "'":
                index += 2
                continue
            if text[index] == "'":
                break
            index += 1
        title, rest = text[1:index].replace("''", "'"), text[index + 1 :]
        if rest and not rest.startswith("!"):
            return None, text
        return title, rest[1:]
    if "!" in text:
        title, _, cells = text.partition("!")
        return title, cells
    return None, text


def _bounds(cells: str, sheet: FakeSheet) -> tuple[int, int, int, int] | None:
    """Return (first row, first column, last row, last column), open ends at the grid edge."""
    if not cells:
        return 1, 1, sheet.row_count, sheet.column_count
    corners = [_corner(part) for part in cells.split(":")]
    if len(corners) > 2 or any(corner is None for corner in corners):
        return None
    (start_column, start_row), (end_column, end_row) = corners[0], corners[-1]
    if len(corners) == 1:
        # One cell, one whole column ("A") or one whole row ("5").
        end_column, end_row = start_column, start_row
    first_row, last_row = sorted((start_row or 1, end_row or sheet.row_count))
    first_column, last_column = sorted((start_column or 1, end_column or sheet.column_count))
    return first_row, first_column, last_row, last_column


def _corner(text: str) -> tuple[int | None, int | None] | None:
    """Parse "B7", "B" or "7" into (column, row); None marks an open side, bad text None."""
    match = CELL.fullmatch(text)
    if match is None or not text or match.group(2).startswith("0"):
        return None
    letters, digits = match.groups()
    return (column_number(letters) if letters else None, int(digits) if digits else None)


def _table(grid: GridRange) -> GridRange | None:
    """Return the filled block from the range's corner to the last filled row, or None.

    Google grows a table from the range to the right as far as the data goes, so a one-cell
    range like "Sheet1!A1" finds the whole table. How it treats blank rows inside a table is
    unconfirmed; here they belong to the table and the append goes below the last filled row.
    """
    widths = {
        number: len(trimmed_row(_row(grid.sheet, number)[grid.first_column - 1 :]))
        for number in range(grid.first_row, len(grid.sheet.rows) + 1)
    }
    filled = [number for number, width in widths.items() if width]
    if not filled:
        return None
    last_column = grid.first_column + max(widths.values()) - 1
    return GridRange(grid.sheet, filled[0], grid.first_column, filled[-1], last_column)


def _updates(
    book: FakeSpreadsheet,
    sheet: FakeSheet,
    first_row: int,
    first_column: int,
    values: list[list[Any]],
    written: int,
) -> dict[str, Any]:
    """Return the UpdateValuesResponse fields for a block written at a corner."""
    height = len(values)
    width = max((len(row) for row in values), default=0)
    last_row, last_column = first_row + max(height, 1) - 1, first_column + max(width, 1) - 1
    return {
        "spreadsheetId": book.spreadsheet_id,
        "updatedRange": a1_range(sheet.title, first_row, first_column, last_row, last_column),
        "updatedRows": height,
        "updatedColumns": width,
        "updatedCells": written,
    }


def _value_input_option(query: Mapping[str, list[str]]) -> str:
    """Return the required valueInputOption or raise Google's 400."""
    option = _one(query, "valueInputOption", "")
    if not option:
        raise GoogleError(
            400, "INVALID_ARGUMENT", "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED"
        )
    if option not in VALUE_INPUT_OPTIONS:
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            f"Invalid value at 'value_input_option' "
            f"(type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "
            f'"{option}"',
        )
    return option


def _body_values(request: RecordedRequest, path_range: str) -> list[list[Any]]:
    """Return the ValueRange body's values, checking the JSON and its optional range."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise GoogleError(
            400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token."
        ) from None
    if not isinstance(body, dict):
        raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if body.get("range") not in (None, path_range):
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            f"Requested writing within range [{path_range}], but tried writing to "
            f"[{body['range']}]",
        )
    values = body.get("values") or []
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise GoogleError(400, "INVALID_ARGUMENT", "Invalid value at 'data.values'")
    for row_index, row in enumerate(values):
        for column_index, value in enumerate(row):
            if isinstance(value, dict | list):
                raise GoogleError(
                    400,
                    "INVALID_ARGUMENT",
                    f"Invalid values[{row_index}][{column_index}]: "
                    f"{'struct' if isinstance(value, dict) else 'list'}_value",
                )
    if body.get("majorDimension") == "COLUMNS":
        values = [list(row) for row in zip_longest(*values)]
    return values


def _grid_error(text: str, sheet: FakeSheet) -> GoogleError:
    """Return the 400 Google gives for a range outside the tab's grid."""
    return GoogleError(
        400,
        "INVALID_ARGUMENT",
        f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, "
        f"max columns: {sheet.column_count}",
    )


def _row(sheet: FakeSheet, number: int, *, create: bool = False) -> list[Any]:
    """Return row `number` (1-based); missing rows are empty, or created when asked."""
    if number <= len(sheet.rows):
        return sheet.rows[number - 1]
    if not create:
        return []
    sheet.rows.extend([] for _ in range(number - len(sheet.rows)))
    return sheet.rows[number - 1]


def _one(query: Mapping[str, list[str]], name: str, default: str) -> str:
    """Return the first value of a query parameter."""
    return (query.get(name) or [default])[0]


def _filled(value: Any) -> bool:
    """Tell whether a cell holds something."""
    return value is not None and value != ""


def trimmed_row(row: Sequence[Any]) -> list[Any]:
    """Drop trailing empty cells."""
    cells = list(row)
    while cells and not _filled(cells[-1]):
        cells.pop()
    return cells


def trimmed_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Trim every row, then drop trailing empty rows; empty middle rows stay as []."""
    result = [[("" if value is None else value) for value in trimmed_row(row)] for row in rows]
    while result and not result[-1]:
        result.pop()
    return result


def formatted(value: Any) -> Any:
    """Render a cell as FORMATTED_VALUE shows it: text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def unformatted(value: Any) -> Any:
    """Render a cell as UNFORMATTED_VALUE shows it: numbers stay numbers."""
    return "" if value is None else value


def column_letter(number: int) -> str:
    """Return the A1 letters of a 1-based column number (27 -> AA)."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def column_number(letters: str) -> int:
    """Return the 1-based column number of A1 letters (AA -> 27)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def quoted_title(title: str) -> str:
    """Quote a sheet title for A1 notation unless it is a plain name."""
    if BARE_TITLE.fullmatch(title) and not CELL_LIKE_TITLE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1_range(title: str, first_row: int, first_column: int, last_row: int, last_column: int) -> str:
    """Return "Title!A1:B2" (or "Title!A1" for one cell)."""
    start = f"{column_letter(first_column)}{first_row}"
    end = f"{column_letter(last_column)}{last_row}"
    return f"{quoted_title(title)}!{start if start == end else f'{start}:{end}'}"


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- HTTP plumbing ---------------------------------------------------------------------------


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """Return a JSON answer with Google's content type."""
    return _answer(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def _oauth_error(status: int, error: str, description: str) -> Answer:
    """Return an RFC 6749 error answer from the token endpoint."""
    return json_answer(status, {"error": error, "error_description": description})


def _html_error(status: int, title: str, detail: str) -> Answer:
    """Return the HTML error page the consent screen shows."""
    page = f"<!DOCTYPE html><html><title>{title}</title><h1>{title}</h1><p>{detail}</html>"
    return _answer(status, page, {"Content-Type": "text/html; charset=utf-8"})


def _redirect(target: str, params: Mapping[str, str]) -> Answer:
    """Return a 302 to the client's redirect URI carrying the given query parameters."""
    separator = "&" if urlsplit(target).query else "?"
    return _answer(302, b"", {"Location": f"{target}{separator}{urlencode(params)}"})


def _delayed(answer: Answer, delay: float) -> Answer:
    """Return the same answer, sent after a delay."""
    return Answer(answer.status, answer.headers, answer.body, max(answer.delay, delay))


def _answer(
    status: int,
    body: bytes | str | dict | list | None,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Answer:
    """Build an answer, encoding the body and giving it a matching content type."""
    return reply(status, body, headers, delay, json_type=JSON_TYPE, ensure_ascii=False)
