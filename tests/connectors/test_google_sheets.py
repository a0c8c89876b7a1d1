"""Google Sheets connector: exact requests, row mapping, token renewal and every error shape."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.google_sheets import GoogleSheets, a1_sheet, header_names, spreadsheet_ids
from connectors.http import HttpClient
from connectors.registry import get_connector
from tests.connectors import test_connector_contract as contract
from tests.fakes.google import (
    READONLY_SCOPE,
    SHEETS_PREFIX,
    UNAUTHENTICATED_MESSAGE,
    FakeGoogle,
)
from tests.fakes.http_sink import RecordedRequest

BOOK = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
LEADS = [
    ["Name", "Email", "Phone"],
    ["Ivan", "ivan@example.com", "+79991234567"],
    ["Anna", "anna@example.com"],
]
TARGET = {"spreadsheet_id": BOOK, "sheet": "Sheet1"}
UNAUTHENTICATED = {
    "error": {"code": 401, "message": UNAUTHENTICATED_MESSAGE, "status": "UNAUTHENTICATED"}
}


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    """Run a fake Google holding one spreadsheet with a Sheet1 of leads."""
    with FakeGoogle() as running:
        running.add_spreadsheet(BOOK, sheets={"Sheet1": LEADS})
        yield running


@pytest.fixture
def sheets(fake: FakeGoogle, client) -> GoogleSheets:
    """Return a connector with fresh tokens, talking to the fake."""
    return GoogleSheets(fake.connector_config(), fake.issue_tokens(), http=client)


def sheets_calls(fake: FakeGoogle) -> list[tuple[str, str, str]]:
    """Return (method, raw path, query) of every Sheets API request."""
    return [(sent.method, sent.path, sent.query) for sent in fake.sheets_requests()]


def base_headers(fake: FakeGoogle, token: str) -> dict[str, str]:
    """Return the headers every Sheets API request carries."""
    return {
        "host": fake.url.removeprefix("http://"),
        "user-agent": "svyazka",
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "authorization": f"Bearer {token}",
    }


def json_headers(fake: FakeGoogle, token: str, sent: RecordedRequest) -> dict[str, str]:
    """Return the headers of a Sheets API request with a JSON body."""
    return {
        **base_headers(fake, token),
        "content-type": "application/json",
        "content-length": str(len(sent.body)),
    }


# --- declaration -----------------------------------------------------------------------------


def test_keeps_the_connector_contract() -> None:
    assert get_connector("google_sheets") is GoogleSheets
    contract.test_identity_is_complete(GoogleSheets)
    contract.test_connection_fields_are_well_formed(GoogleSheets)
    contract.test_services_with_accounts_have_an_overridable_address(GoogleSheets)
    contract.test_describe_is_json_serialisable(GoogleSheets)
    contract.test_operations_point_at_methods(GoogleSheets)
    for operation in (*GoogleSheets.actions.values(), *GoogleSheets.triggers.values()):
        contract.test_operation_fields_are_well_formed((GoogleSheets, operation))
        contract.test_sample_matches_outputs((GoogleSheets, operation))


def test_declares_the_operations_and_the_oauth_flow() -> None:
    assert set(GoogleSheets.triggers) == {"new_rows"}
    assert set(GoogleSheets.actions) == {"append_row", "update_row", "find_row"}
    sheet_input = GoogleSheets.triggers["new_rows"].inputs[1]
    assert (sheet_input.name, sheet_input.options_from, sheet_input.depends_on) == (
        "sheet",
        "sheets",
        ("spreadsheet_id",),
    )
    assert GoogleSheets.oauth["scopes"] == ("https://www.googleapis.com/auth/spreadsheets",)
    assert GoogleSheets.oauth["extra_authorize_params"]["access_type"] == "offline"


def test_the_oauth_client_comes_from_the_injected_admin_settings(fake: FakeGoogle) -> None:
    client = GoogleSheets(fake.connector_config(), {}).oauth_client()
    assert (client.client_id, client.client_secret) == (fake.client_id, fake.client_secret)
    assert (client.token_url, client.authorize_url) == (fake.token_url, fake.authorize_url)
    assert client.use_pkce and client.name == "Google"
    defaults = GoogleSheets({"oauth_client_id": "i", "oauth_client_secret": "s"}, {})
    assert defaults.oauth_client().token_url == "https://oauth2.googleapis.com/token"
    with pytest.raises(ConnectorError, match="an administrator must enter the OAuth client id"):
        GoogleSheets({}, {}).oauth_client()


@pytest.mark.parametrize(
    ("title", "quoted"),
    [
        ("Sheet1", "Sheet1"),
        ("My Sheet", "'My Sheet'"),
        ("Bob's list", "'Bob''s list'"),
        ("AB12", "'AB12'"),
        ("R1C1", "'R1C1'"),
        ("Лист1", "'Лист1'"),
    ],
)
def test_sheet_titles_are_quoted_per_a1_rules(title: str, quoted: str) -> None:
    assert a1_sheet(title) == quoted


def test_headers_name_blank_and_repeated_columns_by_letter() -> None:
    assert header_names(["Name", "", " Email ", "Name", 5]) == [
        "Name",
        "column_B",
        "Email",
        "Name_D",
        "5",
    ]


def test_spreadsheet_ids_accept_lists_lines_and_addresses() -> None:
    text = f"https://docs.google.com/spreadsheets/d/{BOOK}/edit#gid=0\n  abc , abc\n"
    assert spreadsheet_ids(text) == [BOOK, "abc"]
    assert spreadsheet_ids(["x", " ", "y"]) == ["x", "y"]
    assert spreadsheet_ids(None) == []


# --- trigger: new rows -----------------------------------------------------------------------


def test_first_poll_returns_every_data_row_with_exact_requests(fake, sheets) -> None:
    token = sheets.secrets["access_token"]
    result = sheets.poll("new_rows", TARGET, None)

    assert sheets_calls(fake) == [
        ("GET", f"{SHEETS_PREFIX}{BOOK}", "fields=sheets.properties"),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!1%3A1000", ""),
    ]
    assert all(sent.headers == base_headers(fake, token) for sent in fake.sheets_requests())
    assert result.items == [
        {"Name": "Ivan", "Email": "ivan@example.com", "Phone": "+79991234567", "_row": 2},
        {"Name": "Anna", "Email": "anna@example.com", "Phone": "", "_row": 3},
    ]
    assert result.item_keys == [f"{BOOK}:Sheet1:2", f"{BOOK}:Sheet1:3"]
    assert result.cursor == {"last_row": 3}
    assert not sheets.secrets_changed


def test_next_poll_reads_only_below_the_cursor_and_fetches_the_header(fake, sheets) -> None:
    fake.add_rows(BOOK, "Sheet1", [], ["Petr", "petr@example.com", "+79990001122", "extra"])
    result = sheets.poll("new_rows", TARGET, {"last_row": 3})

    assert sheets_calls(fake) == [
        ("GET", f"{SHEETS_PREFIX}{BOOK}", "fields=sheets.properties"),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!4%3A1000", ""),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!1%3A1", ""),
    ]
    # The empty row 4 is skipped but counted; a cell beyond the header gets a letter name.
    assert result.items == [
        {
            "Name": "Petr",
            "Email": "petr@example.com",
            "Phone": "+79990001122",
            "column_D": "extra",
            "_row": 5,
        }
    ]
    assert result.item_keys == [f"{BOOK}:Sheet1:5"]
    assert result.cursor == {"last_row": 5}


def test_a_poll_without_new_rows_skips_the_header_and_keeps_the_cursor(fake, sheets) -> None:
    result = sheets.poll("new_rows", TARGET, {"last_row": 3})
    assert len(fake.sheets_requests()) == 2
    assert (result.items, result.cursor, result.item_keys) == ([], {"last_row": 3}, [])


def test_a_cursor_at_the_end_of_the_grid_reads_no_values(fake, sheets) -> None:
    fake.sheet(BOOK, "Sheet1").row_count = 3
    result = sheets.poll("new_rows", TARGET, {"last_row": 3})
    assert sheets_calls(fake) == [("GET", f"{SHEETS_PREFIX}{BOOK}", "fields=sheets.properties")]
    assert result.cursor == {"last_row": 3}


def test_quoted_titles_are_percent_encoded_in_the_path(fake, sheets) -> None:
    fake.add_sheet(BOOK, "Bob's list", [["Name"], ["Kate"]])
    result = sheets.poll("new_rows", {"spreadsheet_id": BOOK, "sheet": "Bob's list"}, None)
    assert sheets_calls(fake)[1] == (
        "GET",
        f"{SHEETS_PREFIX}{BOOK}/values/%27Bob%27%27s%20list%27!1%3A1000",
        "",
    )
    assert result.items == [{"Name": "Kate", "_row": 2}]
    assert result.item_keys == [f"{BOOK}:Bob's list:2"]


def test_a_header_below_a_title_row_is_honoured(fake, sheets) -> None:
    fake.add_sheet(
        BOOK, "Report", [["Leads for March"], ["Name", "", "City"], ["Ivan", "x", "Omsk"]]
    )
    params = {"spreadsheet_id": BOOK, "sheet": "Report", "header_row": "2"}
    result = sheets.poll("new_rows", params, None)
    assert result.items == [{"Name": "Ivan", "column_B": "x", "City": "Omsk", "_row": 3}]
    assert result.cursor == {"last_row": 3}


def test_an_empty_sheet_starts_at_zero_and_later_rows_arrive(fake, sheets) -> None:
    fake.add_sheet(BOOK, "Empty")
    params = {"spreadsheet_id": BOOK, "sheet": "Empty"}
    first = sheets.poll("new_rows", params, None)
    assert (first.items, first.cursor) == ([], {"last_row": 0})
    fake.add_rows(BOOK, "Empty", ["Name"], ["Olga"])
    later = sheets.poll("new_rows", params, first.cursor)
    # The header came inside the read range, so no separate header request was made.
    assert len(fake.sheets_requests()) == 4
    assert (later.items, later.cursor) == ([{"Name": "Olga", "_row": 2}], {"last_row": 2})


def test_a_spreadsheet_address_works_as_its_id(fake, sheets) -> None:
    address = f"https://docs.google.com/spreadsheets/d/{BOOK}/edit#gid=0"
    result = sheets.poll("new_rows", {"spreadsheet_id": address, "sheet": "Sheet1"}, None)
    assert sheets_calls(fake)[0][1] == f"{SHEETS_PREFIX}{BOOK}"
    assert result.item_keys[0] == f"{BOOK}:Sheet1:2"


def test_an_unknown_sheet_names_the_existing_ones(sheets) -> None:
    with pytest.raises(ConnectorError) as caught:
        sheets.poll("new_rows", {"spreadsheet_id": BOOK, "sheet": "Orders"}, None)
    assert str(caught.value) == (
        "Sheet 'Orders' was not found in the spreadsheet; its sheets are: 'Sheet1'"
    )


def test_a_damaged_cursor_is_reported(sheets) -> None:
    with pytest.raises(ConnectorError, match="saved position .* is damaged"):
        sheets.poll("new_rows", TARGET, {"last_row": "abc"})


# --- actions ---------------------------------------------------------------------------------


def test_append_row_places_values_in_header_order(fake, sheets) -> None:
    token = sheets.secrets["access_token"]
    output = sheets.run_action(
        "append_row",
        {**TARGET, "values": {"Phone": "+79990001122", "name": "Petr", "Email": None}},
    )

    header_read, append = fake.sheets_requests()
    assert (header_read.method, header_read.path) == (
        "GET",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!1%3A1",
    )
    assert (append.method, append.path) == (
        "POST",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!A1:append",
    )
    assert append.query == "valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS"
    assert append.headers == json_headers(fake, token, append)
    assert append.json() == {"majorDimension": "ROWS", "values": [["Petr", "", "+79990001122"]]}
    assert output == {"updated_range": "Sheet1!A4:C4", "row": 4}
    # USER_ENTERED reads "+7999…" as a number, as Google does when someone types it.
    assert fake.rows(BOOK, "Sheet1")[3] == ["Petr", "", 79990001122]


def test_append_row_writes_structures_as_json_text_and_accepts_json_values(fake, sheets) -> None:
    values = json.dumps({"Name": {"first": "Ivan"}, "Email": True})
    sheets.run_action("append_row", {**TARGET, "values": values})
    assert fake.sheets_requests()[1].json()["values"] == [['{"first": "Ivan"}', True]]


def test_append_row_refuses_unknown_columns_before_writing(fake, sheets) -> None:
    with pytest.raises(ConnectorError) as caught:
        sheets.run_action("append_row", {**TARGET, "values": {"Phone": "1", "Telegram": "@x"}})
    assert str(caught.value) == (
        "Sheet 'Sheet1' has no column 'Telegram' in header row 1; "
        "its columns are: 'Name', 'Email', 'Phone'"
    )
    assert [sent.method for sent in fake.sheets_requests()] == ["GET"]


def test_append_row_needs_a_header_and_some_values(fake, sheets) -> None:
    fake.add_sheet(BOOK, "Blank")
    with pytest.raises(ConnectorError, match="Row 1 of sheet 'Blank' is empty"):
        sheets.run_action(
            "append_row", {"spreadsheet_id": BOOK, "sheet": "Blank", "values": {"a": 1}}
        )
    with pytest.raises(ConnectorError, match="give at least one column"):
        sheets.run_action("append_row", {**TARGET, "values": {}})


def test_update_row_changes_only_the_given_columns(fake, sheets) -> None:
    token = sheets.secrets["access_token"]
    output = sheets.run_action("update_row", {**TARGET, "row": 3, "values": {"Email": "new@x.ru"}})

    update = fake.sheets_requests()[1]
    assert (update.method, update.path, update.query) == (
        "PUT",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!A3%3AB3",
        "valueInputOption=USER_ENTERED",
    )
    assert update.headers == json_headers(fake, token, update)
    assert update.json() == {"majorDimension": "ROWS", "values": [[None, "new@x.ru"]]}
    assert output == {"updated_range": "Sheet1!A3:B3", "row": 3}
    assert fake.rows(BOOK, "Sheet1")[2] == ["Anna", "new@x.ru"]


def test_update_row_refuses_the_header_row(fake, sheets) -> None:
    with pytest.raises(ConnectorError, match="Row 1 is not a data row"):
        sheets.run_action("update_row", {**TARGET, "row": 1, "values": {"Name": "x"}})
    with pytest.raises(ConnectorError, match="Row number must be a whole number"):
        sheets.run_action("update_row", {**TARGET, "row": "two", "values": {"Name": "x"}})
    assert fake.sheets_requests() == []


def test_update_row_beyond_the_grid_reports_googles_message(fake, sheets) -> None:
    with pytest.raises(ConnectorError) as caught:
        sheets.run_action("update_row", {**TARGET, "row": 1001, "values": {"Name": "x"}})
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == (
        "Google Sheets refused the request: Range (Sheet1!A1001:A1001) exceeds grid limits. "
        "Max rows: 1000, max columns: 26"
    )
    assert caught.value.status == 400


def test_find_row_matches_ignoring_case_and_spaces(fake, sheets) -> None:
    output = sheets.run_action(
        "find_row", {**TARGET, "header_row": "", "column": "Email", "value": " ANNA@example.com"}
    )
    assert sheets_calls(fake) == [("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1", "")]
    assert output == {
        "found": 1,
        "row": 3,
        "fields": {"Name": "Anna", "Email": "anna@example.com", "Phone": "", "_row": 3},
    }


def test_find_row_reports_not_found_as_a_result(sheets) -> None:
    output = sheets.run_action("find_row", {**TARGET, "column": "Phone", "value": "000"})
    assert output == {"found": 0, "row": 0, "fields": {}}
    with pytest.raises(ConnectorError, match="has no column 'Telegram'"):
        sheets.run_action("find_row", {**TARGET, "column": "Telegram", "value": "x"})


# --- connection test and metadata ------------------------------------------------------------


def test_test_connection_renews_the_token_and_hands_it_back(fake, sheets) -> None:
    old = dict(sheets.secrets)
    assert sheets.test_connection() == {"account": "Google account"}
    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/token")
    assert parse_qsl(sent.body.decode()) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", old["refresh_token"]),
        ("client_id", fake.client_id),
        ("client_secret", fake.client_secret),
    ]
    assert sheets.secrets_changed
    assert sheets.secrets["refresh_token"] == old["refresh_token"]
    assert sheets.secrets["access_token"] != old["access_token"]
    assert sheets.secrets["expires_at"] > time.time() + 3500


def test_test_connection_on_a_revoked_grant_is_an_auth_error(fake, sheets) -> None:
    fake.revoke(sheets.secrets["refresh_token"])
    with pytest.raises(AuthError) as caught:
        sheets.test_connection()
    assert str(caught.value) == (
        "Google refused to renew access: reconnect the account (Token has been expired or revoked.)"
    )
    assert not sheets.secrets_changed


def test_test_connection_without_refresh_token_asks_to_reconnect(fake, client) -> None:
    connector = GoogleSheets(fake.connector_config(), {"access_token": "ya29.x"}, http=client)
    with pytest.raises(AuthError, match="no refresh token: reconnect"):
        connector.test_connection()


def test_refresh_metadata_lists_sheets_and_headers(fake, client) -> None:
    fake.add_sheet(BOOK, "My Orders", [["Order", "", "Sum"]])
    fake.add_spreadsheet("second", "Deals", {"Лист1": []})
    config = fake.connector_config(spreadsheets=f"{BOOK}\nsecond")
    connector = GoogleSheets(config, fake.issue_tokens(), http=client)

    metadata = connector.refresh_metadata()

    assert metadata == {
        "spreadsheets": {BOOK: "Leads 2025", "second": "Deals"},
        "sheets": {BOOK: ["Sheet1", "My Orders"], "second": ["Лист1"]},
        "headers": {
            BOOK: {"Sheet1": ["Name", "Email", "Phone"], "My Orders": ["Order", "column_B", "Sum"]},
            "second": {"Лист1": []},
        },
    }
    fields = "fields=spreadsheetId%2Cproperties.title%2Csheets.properties"
    assert sheets_calls(fake) == [
        ("GET", f"{SHEETS_PREFIX}{BOOK}", fields),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!1%3A1", ""),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/%27My%20Orders%27!1%3A1", ""),
        ("GET", f"{SHEETS_PREFIX}second", fields),
        ("GET", f"{SHEETS_PREFIX}second/values/%27%D0%9B%D0%B8%D1%81%D1%821%27!1%3A1", ""),
    ]


def test_refresh_metadata_without_spreadsheets_makes_no_call(fake, sheets) -> None:
    assert sheets.refresh_metadata() == {"spreadsheets": {}, "sheets": {}, "headers": {}}
    assert fake.requests == []


# --- token renewal ---------------------------------------------------------------------------


def test_a_token_about_to_expire_is_renewed_before_the_call(fake, sheets) -> None:
    old = dict(sheets.secrets)
    sheets.secrets["expires_at"] = time.time() + 60
    sheets.run_action("find_row", {**TARGET, "column": "Name", "value": "Ivan"})

    assert [sent.path for sent in fake.requests] == [
        "/token",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1",
    ]
    assert sheets.secrets_changed
    new_token = sheets.secrets["access_token"]
    assert new_token != old["access_token"]
    assert fake.sheets_requests()[0].headers["authorization"] == f"Bearer {new_token}"
    assert sheets.secrets["refresh_token"] == old["refresh_token"]


def test_a_401_renews_the_token_once_and_repeats_the_call(fake, sheets) -> None:
    fake.expire_access_tokens()  # revoked early: the stored expiry still looks fine
    output = sheets.run_action("find_row", {**TARGET, "column": "Name", "value": "Ivan"})

    assert [(sent.method, sent.path) for sent in fake.requests] == [
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1"),
        ("POST", "/token"),
        ("GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1"),
    ]
    assert output["found"] == 1
    assert sheets.secrets_changed


def test_a_401_after_renewal_is_an_auth_error(fake, sheets) -> None:
    fake.inject(401, UNAUTHENTICATED)
    fake.inject(401, UNAUTHENTICATED)
    with pytest.raises(AuthError) as caught:
        sheets.run_action("find_row", {**TARGET, "column": "Name", "value": "Ivan"})
    assert str(caught.value) == (
        f"Google rejected the access token: reconnect the account ({UNAUTHENTICATED_MESSAGE})"
    )
    assert [sent.path for sent in fake.requests].count("/token") == 1


def test_a_401_without_refresh_token_is_an_auth_error_at_once(fake, client) -> None:
    connector = GoogleSheets(fake.connector_config(), {"access_token": "ya29.unknown"}, http=client)
    with pytest.raises(AuthError, match="Google rejected the access token"):
        connector.run_action("find_row", {**TARGET, "column": "Name", "value": "Ivan"})
    assert fake.token_requests() == []


def test_a_revoked_grant_during_a_call_is_an_auth_error(fake, sheets) -> None:
    fake.expire_access_tokens()
    fake.revoke(sheets.secrets["refresh_token"])
    with pytest.raises(AuthError, match=r"reconnect the account \(Token has been expired"):
        sheets.poll("new_rows", TARGET, None)


def test_renewal_needs_the_admin_oauth_client(fake, client) -> None:
    secrets = {**fake.issue_tokens(), "expires_at": 0}
    connector = GoogleSheets({"base_url": fake.base_url}, secrets, http=client)
    with pytest.raises(ConnectorError, match="Google sign-in is not set up"):
        connector.poll("new_rows", TARGET, None)
    assert fake.requests == []


def test_a_connection_without_tokens_is_not_connected(fake, client) -> None:
    with pytest.raises(AuthError, match="not connected"):
        GoogleSheets(fake.connector_config(), {}, http=client).poll("new_rows", TARGET, None)


# --- service errors --------------------------------------------------------------------------


def test_a_sheet_not_shared_is_not_an_auth_error(fake, sheets) -> None:
    fake.spreadsheets[BOOK].shared = False
    with pytest.raises(ConnectorError) as caught:
        sheets.poll("new_rows", TARGET, None)
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == (
        "The sheet is not shared with this Google account: The caller does not have permission"
    )
    assert caught.value.status == 403


def test_a_read_only_grant_cannot_write(fake, client) -> None:
    connector = GoogleSheets(
        fake.connector_config(), fake.issue_tokens(scope=READONLY_SCOPE), http=client
    )
    with pytest.raises(AuthError) as caught:
        connector.run_action("append_row", {**TARGET, "values": {"Name": "x"}})
    assert str(caught.value) == (
        "Google Sheets access was not granted: reconnect the account and allow access to "
        "spreadsheets (Request had insufficient authentication scopes.)"
    )


def test_an_unknown_spreadsheet_is_a_connector_error(sheets) -> None:
    with pytest.raises(ConnectorError) as caught:
        sheets.poll("new_rows", {"spreadsheet_id": "nope", "sheet": "Sheet1"}, None)
    assert str(caught.value) == (
        "Google Sheets found no such spreadsheet: check its id (Requested entity was not found.)"
    )
    assert caught.value.status == 404


def test_quota_exhaustion_waits_a_minute_without_retry_after(fake, sheets) -> None:
    fake.rate_limit_after = 1
    with pytest.raises(RetryableError) as caught:
        sheets.poll("new_rows", TARGET, None)
    assert caught.value.retry_after == 60.0
    assert caught.value.status == 429
    assert str(caught.value).startswith(
        "Google Sheets quota exceeded; retrying when it refills: Quota exceeded for quota metric "
        "'Read requests'"
    )


def test_quota_exhaustion_honours_retry_after(fake, sheets) -> None:
    fake.rate_limit_after = 0
    fake.retry_after = 17
    with pytest.raises(RetryableError) as caught:
        sheets.run_action("find_row", {**TARGET, "column": "Name", "value": "x"})
    assert caught.value.retry_after == 17.0


def test_a_server_error_is_retryable(fake, sheets) -> None:
    body = {
        "error": {
            "code": 503,
            "message": "The service is currently unavailable.",
            "status": "UNAVAILABLE",
        }
    }
    fake.inject(503, body)
    with pytest.raises(RetryableError) as caught:
        sheets.poll("new_rows", TARGET, None)
    assert str(caught.value) == (
        "Google Sheets is temporarily unavailable (503): The service is currently unavailable."
    )


def test_an_html_page_instead_of_json_is_explained(fake, sheets) -> None:
    fake.inject(
        200, "<!DOCTYPE html><title>Proxy login</title>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(ConnectorError, match="answered with HTML instead of JSON"):
        sheets.poll("new_rows", TARGET, None)


def test_a_slow_answer_is_a_retryable_timeout(fake) -> None:
    fake.delay = 2
    with HttpClient(allow_private=True, read_timeout=0.2) as slow:
        connector = GoogleSheets(fake.connector_config(), fake.issue_tokens(), http=slow)
        with pytest.raises(RetryableError, match=r"Timed out after 0\.2 s"):
            connector.poll("new_rows", TARGET, None)


# --- fake fidelity (api-notes 1.3 and 9) -----------------------------------------------------


def raw(fake: FakeGoogle, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    """Call the fake directly with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{fake.url}{path}", headers=headers, timeout=5, **kwargs)


def test_fake_values_get_trims_and_omits_like_google(fake) -> None:
    token = fake.issue_tokens()["access_token"]
    fake.add_sheet(BOOK, "Gaps", [["a", "", ""], [], ["b", None, "c", ""], [], ["", ""]])
    whole = raw(fake, "GET", f"{SHEETS_PREFIX}{BOOK}/values/Gaps", token).json()
    assert whole == {
        "range": "Gaps!A1:Z1000",
        "majorDimension": "ROWS",
        "values": [["a"], [], ["b", "", "c"]],
    }
    empty = raw(fake, "GET", f"{SHEETS_PREFIX}{BOOK}/values/Gaps!A10%3AB12", token).json()
    assert empty == {"range": "Gaps!A10:B12", "majorDimension": "ROWS"}


def test_fake_refuses_writes_without_value_input_option(fake) -> None:
    token = fake.issue_tokens()["access_token"]
    answer = raw(
        fake,
        "POST",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1!A1:append",
        token,
        json={"values": [["x"]]},
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": 400,
            "message": "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_fake_append_reports_the_table_before_and_the_rows_written(fake) -> None:
    token = fake.issue_tokens()["access_token"]
    answer = raw(
        fake,
        "POST",
        f"{SHEETS_PREFIX}{BOOK}/values/Sheet1%21A1%3AC1:append",
        token,
        params={"valueInputOption": "RAW"},
        json={"values": [["Petr", "p@x"]]},
    ).json()
    assert answer == {
        "spreadsheetId": BOOK,
        "tableRange": "Sheet1!A1:C3",
        "updates": {
            "spreadsheetId": BOOK,
            "updatedRange": "Sheet1!A4:B4",
            "updatedRows": 1,
            "updatedColumns": 2,
            "updatedCells": 2,
        },
    }


def test_fake_rejects_unknown_tokens_and_bad_ranges(fake) -> None:
    unknown = raw(fake, "GET", f"{SHEETS_PREFIX}{BOOK}/values/Sheet1", "ya29.nope")
    assert unknown.status_code == 401
    assert unknown.json() == UNAUTHENTICATED
    assert unknown.headers["WWW-Authenticate"].startswith(
        'Bearer realm="https://accounts.google.com/"'
    )
    token = fake.issue_tokens()["access_token"]
    bad = raw(fake, "GET", f"{SHEETS_PREFIX}{BOOK}/values/Nope!A1", token)
    assert (bad.status_code, bad.json()["error"]["message"]) == (
        400,
        "Unable to parse range: Nope!A1",
    )
