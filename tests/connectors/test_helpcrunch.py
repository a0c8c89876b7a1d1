"""The HelpCrunch connector sends exactly the documented requests and types every failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.helpcrunch import CONTACT_OUTPUTS, HelpCrunch
from connectors.http import HttpClient
from tests.connectors import test_connector_contract as contract
from tests.fakes.helpcrunch import FakeHelpCrunch

ANN = {
    "name": "Ann",
    "email": "ann@example.com",
    "phone": "+10233456781",
    "company": "Example Inc.",
    "userId": "crm-7",
    "notes": "Pays yearly",
    "lastSeen": 1700000000,
    "customData": [
        {"property": "plan", "value": "gold"},
        {"property": "seats", "value": 3},
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeHelpCrunch]:
    """Run a fake HelpCrunch for one test."""
    with FakeHelpCrunch() as running:
        yield running


@pytest.fixture
def connector(fake: FakeHelpCrunch, client: HttpClient) -> HelpCrunch:
    """Return the connector pointed at the fake with the fake's key."""
    return connector_for(fake, client)


def connector_for(fake: FakeHelpCrunch, client: HttpClient, **secrets: str) -> HelpCrunch:
    """Build a connector for a fake, with its key unless other secrets are given."""
    return HelpCrunch(
        {"base_url": fake.base_url}, secrets or {"api_key": fake.api_key}, http=client
    )


def expected_headers(fake: FakeHelpCrunch, body: bytes = b"") -> dict[str, str]:
    """Return the exact headers of a request, with the JSON headers when it has a body."""
    headers = {
        "host": fake.url.removeprefix("http://"),
        "user-agent": "svyazka",
        "accept-encoding": "gzip, deflate",
        "accept": "application/json",
        "connection": "keep-alive",
        "authorization": f"Bearer {fake.api_key}",
    }
    if body:
        headers |= {"content-type": "application/json", "content-length": str(len(body))}
    return headers


def compact(document: Any) -> bytes:
    """Return JSON exactly as the connector encodes it."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def search_body(field: str, value: Any) -> bytes:
    """Return the exact search request for one exact-match filter."""
    return compact(
        {
            "filter": [{"field": field, "operator": "=", "value": value}],
            "limit": 1,
            "offset": 0,
            "sort": "customers.lastSeen",
            "order": "desc",
        }
    )


def outputs_of(customer: dict[str, Any], **custom_data: Any) -> dict[str, Any]:
    """Return the outputs expected for a stored customer."""
    return {
        "id": customer["id"],
        "name": customer["name"],
        "email": customer["email"],
        "phone": customer["phone"],
        "company": customer["company"],
        "userId": customer["userId"],
        "locale": customer["locale"],
        "notes": customer["notes"],
        "source": customer["source"],
        "unsubscribed": customer["unsubscribed"],
        "firstSeen": customer["firstSeen"],
        "lastSeen": customer["lastSeen"],
        "tags": [tag["name"] for tag in customer["tags"]],
        "customData": custom_data,
    }


# --- connection and metadata ---


def test_connection_lists_one_contact(connector, fake) -> None:
    fake.add_customer(**ANN)
    fake.add_customer(name="Bob")
    assert connector.test_connection() == {"account": "HelpCrunch account with 2 contacts"}
    (sent,) = fake.requests
    assert (sent.method, sent.path, sent.query) == ("GET", "/v1/customers", "offset=0&limit=1")
    assert sent.headers == expected_headers(fake)
    assert sent.body == b""


def test_connection_without_a_total_still_succeeds(connector, fake) -> None:
    fake.answer_next(200, {"data": []})
    assert connector.test_connection() == {"account": "HelpCrunch API key accepted"}


def test_metadata_lists_custom_attributes_of_recent_contacts(connector, fake) -> None:
    fake.add_customer(**ANN)
    fake.add_customer(name="Bob", customData=[{"property": "Referrer", "value": "ads"}])
    fake.add_customer(name="Cid")
    assert connector.refresh_metadata() == {
        "custom_fields": [
            {"value": "plan", "label": "plan"},
            {"value": "Referrer", "label": "Referrer"},
            {"value": "seats", "label": "seats"},
        ]
    }
    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("GET", "/v1/customers")
    assert sent.query == "sort=customers.lastSeen&order=desc&offset=0&limit=100"
    assert sent.headers == expected_headers(fake)


# --- update contact ---


def test_update_searches_then_patches_only_filled_fields(connector, fake) -> None:
    ann = fake.add_customer(**ANN)
    result = connector.run_action(
        "update_contact",
        {
            "search_by": "email",
            "search_value": " ann@example.com ",
            "name": "Ann Lee",
            "phone": "",
            "notes": None,
            "locale": "RU",
            "unsubscribed": "",
            "customData": {"plan": "platinum", "coupon": ""},
        },
    )
    search, patch = fake.requests
    body = search_body("customers.email", "ann@example.com")
    assert (search.method, search.path, search.query) == ("POST", "/v1/customers/search", "")
    assert search.headers == expected_headers(fake, body)
    assert search.body == body
    changes = compact(
        {
            "name": "Ann Lee",
            "locale": "ru",
            "customData": [{"property": "plan", "value": "platinum"}],
        }
    )
    assert (patch.method, patch.path) == ("PATCH", f"/v1/customers/{ann['id']}")
    assert patch.headers == expected_headers(fake, changes)
    assert patch.body == changes
    stored = fake.customer(ann["id"])
    assert (stored["phone"], stored["notes"], stored["locale"]) == (
        ANN["phone"],
        ANN["notes"],
        "ru",
    )
    assert result == outputs_of(stored, plan="platinum", seats=3)


def test_update_with_nothing_filled_returns_the_contact_without_patching(connector, fake) -> None:
    ann = fake.add_customer(**ANN)
    result = connector.run_action(
        "update_contact", {"search_by": "email", "search_value": ANN["email"], "name": ""}
    )
    assert [request.method for request in fake.requests] == ["POST"]
    assert result == outputs_of(ann, plan="gold", seats=3)


def test_update_without_a_match_fails_so_a_bundle_can_create(connector, fake) -> None:
    fake.add_customer(**ANN)
    with pytest.raises(ConnectorError) as caught:
        connector.run_action(
            "update_contact",
            {"search_by": "email", "search_value": "nobody@example.com", "name": "X"},
        )
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == "No contact with email = nobody@example.com to update"
    assert [request.path for request in fake.requests] == ["/v1/customers/search"]


def test_update_with_several_matches_changes_the_most_recently_seen(connector, fake) -> None:
    older = fake.add_customer(**{**ANN, "lastSeen": 1600000000})
    newer = fake.add_customer(**{**ANN, "lastSeen": 1700000000, "name": "Ann (new)"})
    result = connector.run_action(
        "update_contact",
        {"search_by": "email", "search_value": ANN["email"], "company": "Acme"},
    )
    assert result["id"] == newer["id"]
    assert fake.customer(newer["id"])["company"] == "Acme"
    assert fake.customer(older["id"]) == older


@pytest.mark.parametrize(
    ("search_by", "search_value", "field", "value"),
    [
        ("userId", "crm-7", "customers.userId", "crm-7"),
        ("phone", "+10233456781", "customers.phone", "+10233456781"),
        ("id", "1001", "customers.id", 1001),
        ("plan", "gold", "customers.customData.plan", "gold"),
    ],
)
def test_update_searches_by_the_chosen_attribute(
    connector, fake, search_by: str, search_value: str, field: str, value: Any
) -> None:
    ann = fake.add_customer(**ANN)
    assert ann["id"] == 1001
    connector.run_action(
        "update_contact",
        {"search_by": search_by, "search_value": search_value, "notes": "Moved"},
    )
    assert fake.requests[0].body == search_body(field, value)
    assert fake.customer(ann["id"])["notes"] == "Moved"


def test_update_accepts_custom_attributes_as_json_text(connector, fake) -> None:
    ann = fake.add_customer(**ANN)
    connector.run_action(
        "update_contact",
        {
            "search_by": "email",
            "search_value": ANN["email"],
            "customData": '[{"property": "seats", "value": 5}]',
        },
    )
    assert fake.requests[1].body == compact({"customData": [{"property": "seats", "value": 5}]})
    assert fake.customer(ann["id"])["customData"] == [
        {"property": "plan", "value": "gold"},
        {"property": "seats", "value": 5},
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"search_value": "abc", "search_by": "id"}, "A HelpCrunch id is a whole number"),
        ({"search_by": "email", "search_value": "  "}, "“What to search” is empty"),
        ({"search_by": "email"}, "What to search is required"),
        ({"search_by": "email", "search_value": "a@b.co", "unsubscribed": "maybe"}, "yes or no"),
        ({"search_by": "email", "search_value": "a@b.co", "customData": "{oops"}, "or JSON"),
        ({"search_by": "email", "search_value": "a@b.co", "customData": [1]}, "name/value"),
    ],
)
def test_invalid_update_inputs_fail_before_any_request(
    connector, fake, params: dict, message: str
) -> None:
    with pytest.raises(ConnectorError, match=message):
        connector.run_action("update_contact", params)
    assert fake.requests == []


@pytest.mark.parametrize("locale", ["Russian", "en-US", "xx", "ру", "e"])
@pytest.mark.parametrize("action", ["update_contact", "create_contact"])
def test_a_locale_outside_iso_639_1_fails_before_any_request(
    connector, fake, action: str, locale: str
) -> None:
    params = {"search_by": "email", "search_value": ANN["email"], "locale": locale}
    with pytest.raises(ConnectorError) as caught:
        connector.run_action(action, params)
    assert str(caught.value) == (
        f"Locale must be an ISO 639-1 language code such as 'en' or 'ru', not {locale!r}"
    )
    assert fake.requests == []


# --- create contact ---


def test_create_posts_the_filled_fields_and_returns_the_new_contact(connector, fake) -> None:
    result = connector.run_action(
        "create_contact",
        {
            "name": "Bob",
            "email": "bob@example.com",
            "phone": 380501234567,
            "company": "",
            "locale": "uk",
            "unsubscribed": "false",
            "tags": "vip, lead, vip,",
            "customData": {"plan": "trial"},
        },
    )
    (sent,) = fake.requests
    body = compact(
        {
            "name": "Bob",
            "email": "bob@example.com",
            "phone": "380501234567",
            "locale": "uk",
            "unsubscribed": False,
            "customData": [{"property": "plan", "value": "trial"}],
            "tags": [{"name": "vip"}, {"name": "lead"}],
        }
    )
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/customers", "")
    assert sent.headers == expected_headers(fake, body)
    assert sent.body == body
    (stored,) = fake.customers_where(email="bob@example.com")
    assert stored["tags"] == [
        {"name": "vip", "color": "#c377e0"},
        {"name": "lead", "color": "#c377e0"},
    ]
    assert result == outputs_of(stored, plan="trial")


def test_create_of_an_existing_email_reports_helpcrunchs_message(connector, fake) -> None:
    fake.add_customer(**ANN)
    with pytest.raises(ConnectorError) as caught:
        connector.run_action("create_contact", {"name": "Ann", "email": ANN["email"]})
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == (
        "HelpCrunch answered 400 Bad Request: "
        "Invalid request; Customer with this email already exists"
    )
    assert caught.value.service_message == (
        "Invalid request; Customer with this email already exists"
    )
    assert caught.value.status == 400


def test_create_with_an_invalid_attribute_reports_the_validation_error(connector, fake) -> None:
    with pytest.raises(ConnectorError, match="This value is not a valid email address"):
        connector.run_action("create_contact", {"email": "not-an-email"})
    assert fake.customers == {}


def test_create_with_nothing_filled_is_refused(connector, fake) -> None:
    with pytest.raises(ConnectorError, match="fill in at least one field"):
        connector.run_action("create_contact", {"name": " ", "tags": ""})
    assert fake.requests == []


# --- find contact ---


def test_find_returns_the_first_match(connector, fake) -> None:
    ann = fake.add_customer(**ANN)
    result = connector.run_action("find_contact", {"search_by": "userId", "search_value": "crm-7"})
    assert fake.requests[0].body == search_body("customers.userId", "crm-7")
    assert result == {"found": 1, **outputs_of(ann, plan="gold", seats=3)}


def test_find_without_a_match_reports_found_zero(connector, fake) -> None:
    result = connector.run_action("find_contact", {"search_by": "email", "search_value": "x@y.z"})
    assert result == {"found": 0, **{output.name: None for output in CONTACT_OUTPUTS}}


def test_custom_attributes_given_as_an_object_are_read_too(client) -> None:
    with FakeHelpCrunch(custom_data_shape="object") as fake:
        fake.add_customer(**ANN)
        result = connector_for(fake, client).run_action(
            "find_contact", {"search_by": "email", "search_value": ANN["email"]}
        )
    assert result["customData"] == {"plan": "gold", "seats": 3}


# --- failures ---


def test_a_wrong_key_is_an_auth_error_with_helpcrunchs_message(fake, client) -> None:
    connector = connector_for(fake, client, api_key="wrong")
    with pytest.raises(AuthError) as caught:
        connector.test_connection()
    assert str(caught.value) == (
        "HelpCrunch rejected the API key; copy it again from Settings → Developers → Public API "
        "(HelpCrunch said: Invalid API key)"
    )
    assert (caught.value.status, caught.value.service_message) == (401, "Invalid API key")
    assert fake.requests[0].headers["authorization"] == "Bearer wrong"


def test_a_missing_key_fails_without_calling(fake, client) -> None:
    with pytest.raises(AuthError, match="API key is missing"):
        connector_for(fake, client, api_key=" ").test_connection()
    assert fake.requests == []


def test_an_unknown_endpoint_is_a_permanent_not_found(fake, client) -> None:
    connector = HelpCrunch({"base_url": f"{fake.url}/v2/"}, {"api_key": fake.api_key}, http=client)
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == "HelpCrunch answered 404 Not Found: Not found"
    assert fake.requests[0].path == "/v2/customers"


def test_past_the_rate_limit_retry_after_a_minute(client) -> None:
    with FakeHelpCrunch(requests_per_minute=2) as fake:
        connector = connector_for(fake, client)
        connector.test_connection()
        connector.test_connection()
        with pytest.raises(RetryableError) as caught:
            connector.test_connection()
    assert caught.value.retry_after == 60
    assert (caught.value.status, caught.value.service_message) == (429, "Too many requests")
    assert str(caught.value) == (
        "HelpCrunch rate limit reached (120 requests a minute by default); retrying in 60 s"
    )


def test_a_retry_after_header_sets_the_wait(client) -> None:
    with (
        FakeHelpCrunch(requests_per_minute=0, retry_after=17) as fake,
        pytest.raises(RetryableError) as caught,
    ):
        connector_for(fake, client).test_connection()
    assert caught.value.retry_after == 17


def test_a_server_error_is_retryable(connector, fake) -> None:
    fake.answer_next(503, {"errors": [{"code": "unavailable", "message": "Maintenance"}]})
    with pytest.raises(RetryableError) as caught:
        connector.run_action("find_contact", {"search_by": "email", "search_value": "a@b.co"})
    assert str(caught.value) == "HelpCrunch answered 503 Service Unavailable: Maintenance"
    assert caught.value.retry_after is None


def test_an_html_page_is_explained(connector, fake) -> None:
    fake.answer_next(200, "<!doctype html><p>Log in</p>", headers={"Content-Type": "text/html"})
    with pytest.raises(ConnectorError) as caught:
        connector.test_connection()
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == (
        "HelpCrunch answered with HTML instead of JSON (status 200); "
        f"check the API address {fake.base_url}"
    )


def test_an_html_gateway_error_stays_retryable(connector, fake) -> None:
    fake.answer_next(502, "<html>Bad gateway</html>")
    with pytest.raises(RetryableError, match=r"HTML instead of JSON \(status 502\)"):
        connector.test_connection()


def test_a_slow_answer_times_out_as_retryable() -> None:
    with FakeHelpCrunch(delay=2.0) as fake:
        http = HttpClient(allow_private=True, read_timeout=0.2)
        with pytest.raises(RetryableError, match=r"Timed out after 0\.2 s"):
            connector_for(fake, http).test_connection()


# --- the seed scenario and the contract ---


def test_update_failing_then_create_adds_the_contact_once(connector, fake) -> None:
    row = {"email": "new@example.com", "name": "New Person", "locale": "ru"}
    search = {"search_by": "email", "search_value": row["email"]}
    with pytest.raises(ConnectorError, match="No contact with email"):
        connector.run_action("update_contact", {**search, **row})
    created = connector.run_action("create_contact", row)
    updated = connector.run_action("update_contact", {**search, "notes": "Second row"})
    assert updated["id"] == created["id"]
    assert [customer["notes"] for customer in fake.customers_where(email=row["email"])] == [
        "Second row"
    ]


def test_the_fake_nulls_fields_on_put_and_merges_on_patch(fake, client) -> None:
    ann = fake.add_customer(**ANN)
    url = f"{fake.base_url}/customers/{ann['id']}"
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    client.request("PATCH", url, headers=auth, json={"company": "Acme"})
    assert fake.customer(ann["id"])["name"] == "Ann"
    client.request("PUT", url, headers=auth, json={"company": "Acme"})
    replaced = fake.customer(ann["id"])
    assert (replaced["name"], replaced["email"], replaced["company"]) == (None, None, "Acme")


@pytest.mark.parametrize("operation", [*HelpCrunch.actions.values()], ids=lambda op: op.key)
def test_operations_keep_the_connector_contract(operation) -> None:
    contract.test_operation_fields_are_well_formed((HelpCrunch, operation))
    contract.test_sample_matches_outputs((HelpCrunch, operation))


def test_the_connector_keeps_the_contract() -> None:
    contract.test_identity_is_complete(HelpCrunch)
    contract.test_connection_fields_are_well_formed(HelpCrunch)
    contract.test_services_with_accounts_have_an_overridable_address(HelpCrunch)
    contract.test_describe_is_json_serialisable(HelpCrunch)
    contract.test_operations_point_at_methods(HelpCrunch)
