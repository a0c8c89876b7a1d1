"""Google Sheets (API v4, OAuth 2.0): poll a sheet for new rows; append, update and find rows."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from connectors import oauth2
from connectors.base import AuthKind, Connector, Field, PollResult, action, trigger
from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http_response import HttpResponse
from connectors.oauth2 import OAuthClient, TokenSet
from connectors.registry import register
from connectors.responses import json_or_error, parse_retry_after, service_message_of

SHEETS_URL = "https://sheets.googleapis.com/"
SPREADSHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
# Sheets quotas refill every minute (api-notes 1.6), so a 429 without Retry-After waits that long.
QUOTA_REFILL_SECONDS = 60.0
GRID_FIELDS = "sheets.properties"
BOOK_FIELDS = "spreadsheetId,properties.title,sheets.properties"
# A sheet title may go unquoted in A1 notation only if it is a plain name that cannot be
# mistaken for a cell ("AB12") or an R1C1 reference; anything else is quoted.
BARE_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CELL_LIKE_TITLE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")
FIRST_ROW_OF_RANGE = re.compile(r"[A-Za-z]*([0-9]+)")
SPREADSHEET_URL_PART = "/spreadsheets/d/"

SPREADSHEET = Field(
    "spreadsheet_id",
    "Spreadsheet",
    required=True,
    help="The id from the sheet's address (…/spreadsheets/d/<id>/edit), or the whole address.",
    placeholder="1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
)
SHEET = Field(
    "sheet",
    "Sheet",
    type="select",
    required=True,
    options_from="sheets",
    depends_on=("spreadsheet_id",),
)
HEADER_ROW = Field(
    "header_row",
    "Header row",
    type="number",
    default=1,
    help="The row holding the column names; data rows start below it.",
)
VALUES = Field(
    "values",
    "Values",
    type="keyvalue",
    required=True,
    help="Column name from the header row → value to write.",
)
TARGET = (SPREADSHEET, SHEET, HEADER_ROW)
WRITE_OUTPUTS = (
    Field("updated_range", "Updated range"),
    Field("row", "Row number", type="number"),
)
# Columns are the sheet's own header names; Name/Email/Phone only illustrate the shape.
ROW_OUTPUTS = (
    Field("_row", "Row number", type="number"),
    Field("Name", "Name (example column)"),
    Field("Email", "Email (example column)"),
    Field("Phone", "Phone (example column)"),
)
ROW_SAMPLE = {"_row": 2, "Name": "Ivan", "Email": "ivan@example.com", "Phone": "+79991234567"}


@register
class GoogleSheets(Connector):
    """Read new rows from a Google sheet and append, update or find rows in it.

    Secrets hold the TokenSet dict of the OAuth web flow (access_token, refresh_token,
    expires_at, scope, token_type). The OAuth client belongs to the instance, not to the
    connection: the worker passes it in config as `oauth_client_id` / `oauth_client_secret`.

    The access token is renewed before a call when it expires within two minutes, and once
    when Google answers 401 (the call is then repeated once). After a renewal `self.secrets`
    holds the new TokenSet dict and `self.secrets_changed` is True: the caller must store the
    secrets back into the connection, or the next run would renew again.
    """

    key = "google_sheets"
    name = "Google Sheets"
    icon = "📊"
    description = "Get new rows from a sheet; add, update and find rows."
    auth_kind = AuthKind.OAUTH2
    auth_fields = (
        Field("access_token", "Access token", type="secret", help="Set by “Connect Google”."),
        Field("refresh_token", "Refresh token", type="secret", help="Set by “Connect Google”."),
    )
    config_fields = (
        Field("base_url", "API address", type="url", default=SHEETS_URL),
        Field("token_url", "Token address", type="url", default=oauth2.GOOGLE_TOKEN_URL),
        Field(
            "authorize_url",
            "Consent page address",
            type="url",
            default=oauth2.GOOGLE_AUTHORIZE_URL,
        ),
        Field(
            "spreadsheets",
            "Spreadsheets",
            type="text",
            help="Spreadsheet ids or addresses, one per line: their sheets and columns are "
            "offered in forms.",
        ),
    )
    # The web flow builds its OAuthClient from this plus the admin's client id and secret.
    oauth: ClassVar[dict[str, Any]] = {
        "authorize_url": oauth2.GOOGLE_AUTHORIZE_URL,
        "token_url": oauth2.GOOGLE_TOKEN_URL,
        "scopes": (SPREADSHEETS_SCOPE,),
        "extra_authorize_params": oauth2.GOOGLE_AUTHORIZE_PARAMS,
        "use_pkce": True,
    }

    def oauth_client(self) -> OAuthClient:
        """Return the OAuth application to authorize and renew tokens with."""
        client_id = str(self.config.get("oauth_client_id") or "")
        client_secret = str(self.config.get("oauth_client_secret") or "")
        if not client_id or not client_secret:
            raise ConnectorError(
                "Google sign-in is not set up: an administrator must enter the OAuth client id "
                "and secret in the settings"
            )
        return OAuthClient(
            authorize_url=str(self.config.get("authorize_url") or self.oauth["authorize_url"]),
            token_url=str(self.config.get("token_url") or self.oauth["token_url"]),
            client_id=client_id,
            client_secret=client_secret,
            scopes=self.oauth["scopes"],
            extra_authorize_params=self.oauth["extra_authorize_params"],
            use_pkce=self.oauth["use_pkce"],
            name="Google",
        )

    def test_connection(self) -> dict[str, Any]:
        """Renew the access token: proof that Google still honours the grant.

        Sheets has no "who am I" call and reading a spreadsheet needs an id the connection
        may not have. An unexpired access token proves little (it outlives a revocation by up
        to an hour), so the check always renews, which fails at once on a revoked grant.
        """
        tokens = TokenSet.from_dict(self.secrets)
        if not tokens.refresh_token:
            raise AuthError("Google gave this connection no refresh token: reconnect the account")
        self._renewed(tokens)
        return {"account": "Google account"}

    def refresh_metadata(self) -> dict[str, Any]:
        """List sheet titles and header names of the spreadsheets named in config.

        Returns {"spreadsheets": {id: title}, "sheets": {id: [titles]},
        "headers": {id: {title: [column names of row 1]}}}; "sheets" feeds the Sheet
        select and "headers" the column select of "Find row".
        """
        titles: dict[str, str] = {}
        sheets: dict[str, list[str]] = {}
        headers: dict[str, dict[str, list[str]]] = {}
        for spreadsheet_id in spreadsheet_ids(self.config.get("spreadsheets")):
            book = self._call("GET", _book_path(spreadsheet_id), params={"fields": BOOK_FIELDS})
            titles[spreadsheet_id] = str(book.get("properties", {}).get("title", ""))
            sheets[spreadsheet_id] = [
                str(entry["properties"]["title"]) for entry in _sheet_entries(book)
            ]
            headers[spreadsheet_id] = {
                title: header_names(self._header_cells(spreadsheet_id, title, 1))
                for title in sheets[spreadsheet_id]
            }
        return {"spreadsheets": titles, "sheets": sheets, "headers": headers}

    @trigger(
        "new_rows",
        label="New rows",
        inputs=TARGET,
        outputs=ROW_OUTPUTS,
        sample=ROW_SAMPLE,
    )
    def new_rows(self, params: Mapping[str, Any], cursor: Mapping[str, Any] | None) -> PollResult:
        """Return the rows below the cursor, keyed by header names, and the new cursor.

        The cursor {"last_row": N} is the 1-based number of the last row read; without one
        every data row is returned (the engine decides whether they are history). Empty rows
        are skipped but counted. A row someone is still typing comes back as it is at poll
        time, with "" for the cells not yet filled; it is not read again later. Rows inserted
        or deleted above the cursor shift numbers and are not detected (api-notes 1.7).
        """
        spreadsheet_id, sheet, header_row = _target(params)
        last_row = _cursor_row(cursor)
        first = last_row + 1
        # Reading past the sheet's grid is an error, so the grid size bounds the read.
        row_count = self._row_count(spreadsheet_id, sheet)
        rows: list[list[Any]] = []
        if first <= row_count:
            rows = self._rows(spreadsheet_id, f"{a1_sheet(sheet)}!{first}:{row_count}")
        if not rows:
            return PollResult([], {"last_row": last_row}, [])
        if first <= header_row:
            offset = header_row - first
            header = rows[offset] if offset < len(rows) else []
        else:
            header = self._header_cells(spreadsheet_id, sheet, header_row)
        names = header_names(header)
        items, keys = [], []
        for number, cells in enumerate(rows, start=first):
            if number > header_row and cells:
                items.append(row_item(names, cells, number))
                keys.append(f"{spreadsheet_id}:{sheet}:{number}")
        return PollResult(items, {"last_row": last_row + len(rows)}, keys)

    @action(
        "append_row",
        label="Add row",
        inputs=(*TARGET, VALUES),
        outputs=WRITE_OUTPUTS,
        sample={"updated_range": "Sheet1!A4:D4", "row": 4},
    )
    def append_row(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Add a row below the table, placing values under their header columns."""
        spreadsheet_id, sheet, header_row = _target(params)
        names = self._required_header(spreadsheet_id, sheet, header_row)
        placed = place_values(names, _values_input(params.get("values")), sheet, header_row)
        row = [placed.get(index, "") for index in range(max(placed) + 1)]
        answer = self._call(
            "POST",
            _values_path(spreadsheet_id, f"{a1_sheet(sheet)}!A{header_row}", ":append"),
            params={"valueInputOption": "USER_ENTERED", "insertDataOption": "INSERT_ROWS"},
            body={"majorDimension": "ROWS", "values": [row]},
        )
        updated = str((answer.get("updates") or {}).get("updatedRange") or "")
        return {"updated_range": updated, "row": first_row_of(updated)}

    @action(
        "update_row",
        label="Update row",
        inputs=(*TARGET, Field("row", "Row number", type="number", required=True), VALUES),
        outputs=WRITE_OUTPUTS,
        sample={"updated_range": "Sheet1!A5:D5", "row": 5},
    )
    def update_row(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given columns of one row; the other cells stay as they are."""
        spreadsheet_id, sheet, header_row = _target(params)
        number = positive_int(params.get("row"), "Row number")
        if number <= header_row:
            raise ConnectorError(
                f"Row {number} is not a data row: data starts below the header row {header_row}"
            )
        names = self._required_header(spreadsheet_id, sheet, header_row)
        placed = place_values(names, _values_input(params.get("values")), sheet, header_row)
        width = max(placed) + 1
        # null cells are skipped by Google, so untouched columns keep their values.
        row = [placed.get(index) for index in range(width)]
        cells = f"{a1_sheet(sheet)}!A{number}:{column_letter(width)}{number}"
        answer = self._call(
            "PUT",
            _values_path(spreadsheet_id, cells),
            params={"valueInputOption": "USER_ENTERED"},
            body={"majorDimension": "ROWS", "values": [row]},
        )
        return {"updated_range": str(answer.get("updatedRange") or cells), "row": number}

    @action(
        "find_row",
        label="Find row",
        inputs=(
            *TARGET,
            Field(
                "column",
                "Column to search",
                type="select",
                required=True,
                options_from="headers",
                depends_on=("spreadsheet_id", "sheet"),
            ),
            Field("value", "What to search", required=True),
        ),
        outputs=(
            Field("found", "Found (1) or not (0)", type="number"),
            Field("row", "Row number (0 when not found)", type="number"),
            Field("fields", "Row fields", type="json"),
        ),
        sample={"found": 1, "row": 2, "fields": ROW_SAMPLE},
    )
    def find_row(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return the first data row whose cell in the column equals the value.

        Cells are compared as displayed, ignoring surrounding spaces and letter case (emails
        and names are typed inconsistently). Nothing found is a result, not an error:
        found 0, row 0, fields {}.
        """
        spreadsheet_id, sheet, header_row = _target(params)
        rows = self._rows(spreadsheet_id, a1_sheet(sheet))
        names = header_names(rows[header_row - 1] if len(rows) >= header_row else [])
        column = column_index(names, str(params["column"]), sheet, header_row)
        wanted = _comparable(params["value"])
        for number, cells in enumerate(rows[header_row:], start=header_row + 1):
            if column < len(cells) and _comparable(cells[column]) == wanted:
                return {"found": 1, "row": number, "fields": row_item(names, cells, number)}
        return {"found": 0, "row": 0, "fields": {}}

    # --- reading helpers -----------------------------------------------------------------

    def _row_count(self, spreadsheet_id: str, sheet: str) -> int:
        """Return the number of rows in the sheet's grid (filled or not)."""
        book = self._call("GET", _book_path(spreadsheet_id), params={"fields": GRID_FIELDS})
        entries = _sheet_entries(book)
        for entry in entries:
            properties = entry["properties"]
            if properties.get("title") == sheet:
                return int(properties.get("gridProperties", {}).get("rowCount", 0))
        known = ", ".join(repr(str(entry["properties"].get("title"))) for entry in entries)
        raise ConnectorError(
            f"Sheet {sheet!r} was not found in the spreadsheet; its sheets are: {known or 'none'}"
        )

    def _rows(self, spreadsheet_id: str, cells: str) -> list[list[Any]]:
        """Return the values of a range; Google leaves `values` out when it is empty."""
        answer = self._call("GET", _values_path(spreadsheet_id, cells))
        rows = answer.get("values") or []
        if not isinstance(rows, list):
            raise ConnectorError("Google Sheets answered with values that are not rows")
        return [list(row) if isinstance(row, list) else [] for row in rows]

    def _header_cells(self, spreadsheet_id: str, sheet: str, header_row: int) -> list[Any]:
        """Return the cells of the header row."""
        rows = self._rows(spreadsheet_id, f"{a1_sheet(sheet)}!{header_row}:{header_row}")
        return rows[0] if rows else []

    def _required_header(self, spreadsheet_id: str, sheet: str, header_row: int) -> list[str]:
        """Return the header names, refusing a sheet whose header row is empty."""
        names = header_names(self._header_cells(spreadsheet_id, sheet, header_row))
        if not names:
            raise ConnectorError(
                f"Row {header_row} of sheet {sheet!r} is empty: it must hold the column names"
            )
        return names

    # --- HTTP and tokens ---------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """Call the Sheets API with a fresh token, renewing once on 401; return its JSON."""
        tokens, renewed = self._usable_tokens()
        response = self._send(method, path, tokens, params, body)
        if response.status_code == 401 and tokens.refresh_token and not renewed:
            response.close()
            tokens = self._renewed(tokens)
            response = self._send(method, path, tokens, params, body)
        raise_for_google(response)
        answer = json_or_error(response)
        if not isinstance(answer, dict):
            raise ConnectorError("Google Sheets answered with JSON that is not an object")
        return answer

    def _send(
        self,
        method: str,
        path: str,
        tokens: TokenSet,
        params: Mapping[str, str] | None,
        body: Any,
    ) -> HttpResponse:
        """Send one authorised request to the configured API address."""
        base = str(self.config.get("base_url") or SHEETS_URL).rstrip("/")
        return self.http.request(
            method,
            f"{base}/{path}",
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            params=params,
            json=body,
        )

    def _usable_tokens(self) -> tuple[TokenSet, bool]:
        """Return tokens fit for a call, renewing ones about to expire; say if renewed."""
        tokens = TokenSet.from_dict(self.secrets)
        if not tokens.access_token and not tokens.refresh_token:
            raise AuthError("Google Sheets is not connected: connect a Google account")
        if tokens.refresh_token and tokens.expires_soon(time.time()):
            return self._renewed(tokens), True
        return tokens, False

    def _renewed(self, tokens: TokenSet) -> TokenSet:
        """Get a new access token and hand it to the caller through self.secrets."""
        fresh = oauth2.refresh(
            self.oauth_client(), self.http, tokens.refresh_token, now=time.time()
        )
        if not fresh.scope:
            fresh = dataclasses.replace(fresh, scope=tokens.scope)
        self.secrets = fresh.to_dict()
        self.secrets_changed = True
        return fresh


def raise_for_google(response: HttpResponse) -> None:
    """Raise the typed error for a Google error answer; do nothing on success."""
    status = response.status_code
    if status < 400:
        return
    said = service_message_of(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RetryableError(
            f"Google Sheets quota exceeded; retrying when it refills: {said}",
            retry_after=QUOTA_REFILL_SECONDS if retry_after is None else retry_after,
            service_message=said,
            status=status,
        )
    if status >= 500:
        raise RetryableError(
            f"Google Sheets is temporarily unavailable ({status}): {said}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            service_message=said,
            status=status,
        )
    raise _client_error(status, said)


def _client_error(status: int, said: str) -> ConnectorError:
    """Return the error for a 4xx answer other than 429."""
    if status == 401:
        return AuthError(
            f"Google rejected the access token: reconnect the account ({said})",
            service_message=said,
            status=status,
        )
    if status == 403 and "scope" in said.lower():
        # The user unticked the spreadsheets permission on the consent screen.
        return AuthError(
            f"Google Sheets access was not granted: reconnect the account and allow access to "
            f"spreadsheets ({said})",
            service_message=said,
            status=status,
        )
    if status == 403:
        # Not AuthError: the account works, this one file is simply not shared with it.
        message = f"The sheet is not shared with this Google account: {said}"
    elif status == 404:
        message = f"Google Sheets found no such spreadsheet: check its id ({said})"
    else:
        message = f"Google Sheets refused the request: {said}"
    return ConnectorError(message, service_message=said, status=status)


def a1_sheet(title: str) -> str:
    """Return a sheet title as A1 notation needs it: quoted, inner quotes doubled, if needed."""
    if BARE_TITLE.fullmatch(title) and not CELL_LIKE_TITLE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def column_letter(number: int) -> str:
    """Return the A1 letters of a 1-based column number (27 -> AA)."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def header_names(cells: Sequence[Any]) -> list[str]:
    """Name each column by its header; blank ones "column_<letter>", repeats get the letter."""
    names: list[str] = []
    for index, cell in enumerate(cells):
        letter = column_letter(index + 1)
        name = str(cell).strip() or f"column_{letter}"
        names.append(f"{name}_{letter}" if name in names else name)
    return names


def row_item(names: Sequence[str], cells: Sequence[Any], number: int) -> dict[str, Any]:
    """Return a row as {header name: cell} plus "_row"; missing cells are ""."""
    item: dict[str, Any] = {}
    for index in range(max(len(names), len(cells))):
        name = names[index] if index < len(names) else f"column_{column_letter(index + 1)}"
        item[name] = cells[index] if index < len(cells) else ""
    item["_row"] = number
    return item


def place_values(
    names: Sequence[str], values: Mapping[str, Any], sheet: str, header_row: int
) -> dict[int, Any]:
    """Return {column index: cell value} for values keyed by header names."""
    if not values:
        raise ConnectorError("Values: give at least one column to write")
    return {
        column_index(names, str(name), sheet, header_row): cell_value(value)
        for name, value in values.items()
    }


def column_index(names: Sequence[str], wanted: str, sheet: str, header_row: int) -> int:
    """Return the 0-based index of a header name (exact, then ignoring case and spaces)."""
    if wanted in names:
        return names.index(wanted)
    folded = [name.strip().casefold() for name in names]
    if wanted.strip().casefold() in folded:
        return folded.index(wanted.strip().casefold())
    columns = ", ".join(repr(name) for name in names) or "none"
    raise ConnectorError(
        f"Sheet {sheet!r} has no column {wanted!r} in header row {header_row}; "
        f"its columns are: {columns}"
    )


def cell_value(value: Any) -> Any:
    """Return a value Sheets accepts in a cell: scalars as they are, structures as JSON text."""
    if value is None:
        return ""
    if isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, ensure_ascii=False)


def first_row_of(a1: str) -> int:
    """Return the first row number of an A1 range such as "Sheet1!A4:D4" (0 if none)."""
    match = FIRST_ROW_OF_RANGE.match(a1.rpartition("!")[2])
    return int(match.group(1)) if match else 0


def positive_int(value: Any, label: str) -> int:
    """Return a whole number ≥ 1 from a number or numeric text."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConnectorError(f"{label} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ConnectorError(f"{label} must be 1 or more, not {number}")
    return number


def spreadsheet_id_of(text: Any) -> str:
    """Return the spreadsheet id from an id or a docs.google.com address."""
    value = str(text or "").strip()
    if SPREADSHEET_URL_PART in value:
        value = value.split(SPREADSHEET_URL_PART, 1)[1].split("/", 1)[0].split("?", 1)[0]
    if not value:
        raise ConnectorError("Spreadsheet: give the spreadsheet id or its address")
    return value


def spreadsheet_ids(setting: Any) -> list[str]:
    """Return the ids listed in config: a list, or text with one id or address per line."""
    entries = setting if isinstance(setting, list) else re.split(r"[\s,]+", str(setting or ""))
    ids = [spreadsheet_id_of(entry) for entry in entries if str(entry).strip()]
    return list(dict.fromkeys(ids))


def _target(params: Mapping[str, Any]) -> tuple[str, str, int]:
    """Return the spreadsheet id, sheet title and header row of an operation's inputs."""
    sheet = str(params.get("sheet") or "")
    return (
        spreadsheet_id_of(params.get("spreadsheet_id")),
        sheet,
        # A header row left blank in the form means the first row.
        positive_int(params.get("header_row") or 1, "Header row"),
    )


def _values_input(value: Any) -> Mapping[str, Any]:
    """Return the column → value pairs, accepting mapped JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConnectorError("Values must be column name/value pairs") from None
    if not isinstance(value, Mapping):
        raise ConnectorError("Values must be column name/value pairs")
    return value


def _cursor_row(cursor: Mapping[str, Any] | None) -> int:
    """Return the last row read according to the cursor (0 before the first poll)."""
    if not cursor:
        return 0
    try:
        last_row = int(cursor.get("last_row", 0))
    except (TypeError, ValueError):
        raise ConnectorError(f"The saved position {dict(cursor)!r} is damaged") from None
    return max(last_row, 0)


def _comparable(value: Any) -> str:
    """Return a cell or search value in the form find_row compares."""
    return str(value).strip().casefold()


def _book_path(spreadsheet_id: str) -> str:
    """Return the spreadsheets.get path."""
    return f"v4/spreadsheets/{quote(spreadsheet_id, safe='')}"


def _values_path(spreadsheet_id: str, cells: str, suffix: str = "") -> str:
    """Return a values path; the range is one fully percent-encoded segment (api-notes 1.1)."""
    return f"{_book_path(spreadsheet_id)}/values/{quote(cells, safe='!')}{suffix}"


def _sheet_entries(book: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return the sheets of a Spreadsheet resource that carry properties."""
    entries = book.get("sheets") or []
    return [
        entry
        for entry in entries
        if isinstance(entry, Mapping) and isinstance(entry.get("properties"), Mapping)
    ]
