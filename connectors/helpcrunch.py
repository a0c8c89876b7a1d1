"""HelpCrunch: find, update and create contacts ("customers") through the public REST API v1."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.base import AuthKind, Connector, Field, action
from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.fields import api_address
from connectors.http_response import HttpResponse
from connectors.registry import register
from connectors.responses import json_or_error, parse_retry_after, service_message_of

DEFAULT_BASE_URL = "https://api.helpcrunch.com/v1"
KEY_LOCATION = "Settings → Developers → Public API"
# HelpCrunch allows 120 requests a minute and documents no header saying when to come back,
# so without a Retry-After we wait one whole window, which is always enough.
RATE_LIMIT_WAIT_SECONDS = 60.0
# The documented page size; custom attribute names are read from the most recent page.
METADATA_PAGE_SIZE = 100

# The two-letter ISO 639-1 codes (184, counting the withdrawn "bh" that old data may hold).
ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu "
    "cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi "
    "ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks "
    "ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl "
    "nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve "
    "vi vo wa wo xh yi yo za zh zu"
)
ISO_639_1 = frozenset(ISO_639_1_CODES.split())

# Searchable customer attributes (customers.<name> in a search filter) offered by default.
SEARCH_FIELDS = (
    ("email", "Email"),
    ("phone", "Phone"),
    ("userId", "User ID (your own id)"),
    ("name", "Name"),
    ("company", "Company"),
    ("id", "HelpCrunch id"),
)
BUILTIN_SEARCH_FIELDS = frozenset(name for name, _ in SEARCH_FIELDS)
TEXT_FIELDS = ("name", "email", "phone", "company", "userId", "notes", "source")
YES_NO = (("true", "Yes"), ("false", "No"))

SEARCH_INPUTS = (
    Field(
        "search_by",
        "Search by",
        type="select",
        required=True,
        default="email",
        options=SEARCH_FIELDS,
        options_from="custom_fields",
        help="The contact attribute compared with “What to search”; custom attributes too.",
    ),
    Field(
        "search_value",
        "What to search",
        required=True,
        placeholder="{{source.email}}",
        help="Usually a variable from an earlier block; matched exactly.",
    ),
)
CONTACT_INPUTS = (
    Field("name", "Name"),
    Field("email", "Email"),
    Field("phone", "Phone"),
    Field("company", "Company"),
    Field("userId", "User ID", help="Your own id for the contact (from a CRM), not HelpCrunch's."),
    Field(
        "locale",
        "Locale",
        placeholder="en",
        help="A two-letter ISO 639-1 language code such as en, ru or uk.",
    ),
    Field("notes", "Notes", type="text"),
    Field("source", "Source page", placeholder="https://example.com"),
    Field("unsubscribed", "Unsubscribed from auto messages", type="select", options=YES_NO),
    Field(
        "customData",
        "Custom attributes",
        type="keyvalue",
        options_from="custom_fields",
        help="Attribute name and value; create attributes first in Settings → Contacts.",
    ),
)
TAGS_INPUT = Field(
    "tags", "Tags", placeholder="vip, lead", help="Comma-separated; unknown tags are created."
)
CONTACT_OUTPUTS = (
    Field("id", "HelpCrunch id", type="number"),
    Field("name", "Name"),
    Field("email", "Email"),
    Field("phone", "Phone"),
    Field("company", "Company"),
    Field("userId", "User ID"),
    Field("locale", "Locale"),
    Field("notes", "Notes", type="text"),
    Field("source", "Source page"),
    Field("unsubscribed", "Unsubscribed", type="boolean"),
    Field("firstSeen", "First seen (Unix time)", type="number"),
    Field("lastSeen", "Last seen (Unix time)", type="number"),
    Field("tags", "Tags", type="json"),
    Field("customData", "Custom attributes", type="json"),
)
CONTACT_SAMPLE = {
    "id": 542335,
    "name": "John Doe",
    "email": "john@example.com",
    "phone": "+10233456781",
    "company": "Example Inc.",
    "userId": "user_1234567890",
    "locale": "en",
    "notes": "Lorem ipsum",
    "source": "https://example.com",
    "unsubscribed": False,
    "firstSeen": 1603885746,
    "lastSeen": 1603885746,
    "tags": ["vip"],
    "customData": {"subscription_status": "active"},
}
FOUND_OUTPUT = Field("found", "Found (1 or 0)", type="number")


@register
class HelpCrunch(Connector):
    """Find, update and create HelpCrunch contacts with an API key."""

    key = "helpcrunch"
    name = "HelpCrunch"
    icon = "💬"
    description = "Customer messaging: find, update and create contacts."
    auth_kind = AuthKind.API_KEY
    auth_fields = (
        Field(
            "api_key",
            "API key",
            type="secret",
            required=True,
            help=f"In HelpCrunch: {KEY_LOCATION} (not the Legacy API key).",
        ),
    )
    config_fields = (api_address(DEFAULT_BASE_URL),)

    def test_connection(self) -> dict[str, Any]:
        """List one contact to prove the key works, and report the account's contact count."""
        answer = self._call("GET", "/customers", query={"offset": 0, "limit": 1})
        total = answer.get("total") if isinstance(answer, Mapping) else None
        if isinstance(total, int):
            return {"account": f"HelpCrunch account with {total} contacts"}
        return {"account": "HelpCrunch API key accepted"}

    def refresh_metadata(self) -> dict[str, Any]:
        """List the custom attribute names found on the most recently seen contacts."""
        # The public API has no endpoint for custom attribute definitions, so the names
        # come from the customData of the latest page of contacts.
        answer = self._call(
            "GET",
            "/customers",
            query={
                "sort": "customers.lastSeen",
                "order": "desc",
                "offset": 0,
                "limit": METADATA_PAGE_SIZE,
            },
        )
        names = {name for customer in _customers_in(answer) for name in _custom_data_dict(customer)}
        ordered = sorted(names, key=str.casefold)
        return {"custom_fields": [{"value": name, "label": name} for name in ordered]}

    @action(
        "update_contact",
        label="Update contact",
        inputs=SEARCH_INPUTS + CONTACT_INPUTS,
        outputs=CONTACT_OUTPUTS,
        sample=CONTACT_SAMPLE,
    )
    def update_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Find one contact and change only the fields that were filled in."""
        changes = _customer_body(params)
        field, value = _search_terms(params)
        # Several matches: update the most recently seen one. Failing instead would send a
        # typical bundle down its "update failed -> create" branch and add one more duplicate.
        match = self._first_match(field, value)
        if match is None:
            raise ConnectorError(f"No contact with {field} = {value} to update")
        if not changes:
            # Every mapped field was empty for this item: the contact exists, nothing to send.
            return _contact_outputs(match)
        # PATCH merges; PUT would set every field left out of the body to null.
        updated = self._call("PATCH", f"/customers/{_customer_id(match)}", body=changes)
        return _contact_outputs(updated)

    @action(
        "create_contact",
        label="Create contact",
        inputs=(*CONTACT_INPUTS, TAGS_INPUT),
        outputs=CONTACT_OUTPUTS,
        sample=CONTACT_SAMPLE,
    )
    def create_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Create a contact from the fields that were filled in."""
        body = _customer_body(params)
        tags = _tags(params.get("tags"))
        if tags:
            body["tags"] = tags
        if not body:
            raise ConnectorError("Create contact: fill in at least one field, e.g. name or email")
        return _contact_outputs(self._call("POST", "/customers", body=body))

    @action(
        "find_contact",
        label="Find contact",
        inputs=SEARCH_INPUTS,
        outputs=(FOUND_OUTPUT, *CONTACT_OUTPUTS),
        sample={"found": 1, **CONTACT_SAMPLE},
    )
    def find_contact(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Find the most recently seen contact that matches; found is 0 when there is none."""
        match = self._first_match(*_search_terms(params))
        if match is None:
            return {"found": 0, **dict.fromkeys(CONTACT_SAMPLE)}
        return {"found": 1, **_contact_outputs(match)}

    def _first_match(self, field: str, value: str | int) -> dict[str, Any] | None:
        """Return the most recently seen contact whose attribute equals the value."""
        answer = self._call(
            "POST",
            "/customers/search",
            body={
                "filter": [{"field": _search_field(field), "operator": "=", "value": value}],
                "limit": 1,
                "offset": 0,
                "sort": "customers.lastSeen",
                "order": "desc",
            },
        )
        customers = _customers_in(answer)
        return customers[0] if customers else None

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one authorised request and return its JSON, or raise the typed error."""
        headers = {"Authorization": f"Bearer {self._api_key()}", "Accept": "application/json"}
        data = None
        if body is not None:
            # Encoded here, not by the HTTP client, so the bytes sent are compact UTF-8 JSON.
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        response = self.http.request(
            method, self._base_url() + path, headers=headers, params=query, data=data
        )
        if _is_html(response):
            raise _html_error(response, self._base_url())
        if response.status_code >= 400:
            raise _status_error(response)
        return json_or_error(response)

    def _api_key(self) -> str:
        """Return the API key, refusing to call HelpCrunch without one."""
        api_key = str(self.secrets.get("api_key") or "").strip()
        if not api_key:
            raise AuthError(f"The HelpCrunch API key is missing: copy it from {KEY_LOCATION}")
        return api_key

    def _base_url(self) -> str:
        """Return the API address without a trailing slash."""
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")


def _search_terms(params: Mapping[str, Any]) -> tuple[str, str | int]:
    """Return the attribute to search by and the value, typed as HelpCrunch expects."""
    field = str(params.get("search_by") or "").strip()
    value = _text(params.get("search_value"))
    if not field:
        raise ConnectorError("Choose the attribute to search by")
    if not value:
        raise ConnectorError(f"“What to search” is empty: there is no {field} to look for")
    if field != "id":
        return field, value
    # The search fails unless the value's type matches the attribute's; the id is an integer.
    if not value.isdigit():
        raise ConnectorError(f"A HelpCrunch id is a whole number, not {value!r}")
    return field, int(value)


def _search_field(field: str) -> str:
    """Return the search filter's field name for a built-in or custom attribute."""
    if field in BUILTIN_SEARCH_FIELDS:
        return f"customers.{field}"
    # Unconfirmed: the docs list no filter for custom attributes; this path mirrors their
    # customers.<attribute> naming. HelpCrunch's own error is reported if it refuses it.
    return f"customers.customData.{field}"


def _customer_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the customer attributes to send: only those with a value."""
    body: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = _text(params.get(name))
        if value:
            body[name] = value
    locale = _locale(params.get("locale"))
    if locale:
        body["locale"] = locale
    unsubscribed = _yes_no(params.get("unsubscribed"))
    if unsubscribed is not None:
        body["unsubscribed"] = unsubscribed
    custom_data = _custom_data_items(params.get("customData"))
    if custom_data:
        body["customData"] = custom_data
    return body


def _locale(value: Any) -> str:
    """Return a valid ISO 639-1 code in lower case, or '' when the field is empty."""
    text = _text(value)
    if not text:
        return ""
    if text.lower() not in ISO_639_1:
        raise ConnectorError(
            f"Locale must be an ISO 639-1 language code such as 'en' or 'ru', not {text!r}"
        )
    return text.lower()


def _yes_no(value: Any) -> bool | None:
    """Return a yes/no choice as a boolean, or None when it was left empty."""
    if value is None or isinstance(value, bool):
        return value
    text = _text(value).lower()
    if not text:
        return None
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ConnectorError(f"Unsubscribed must be yes or no, not {value!r}")


def _custom_data_items(value: Any) -> list[dict[str, Any]]:
    """Return custom attributes as HelpCrunch's [{property, value}] list, skipping empty ones."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except ValueError:
            raise ConnectorError("Custom attributes must be name/value pairs or JSON") from None
    if value is None:
        return []
    pairs = _pairs_of(value)
    if pairs is None:
        raise ConnectorError("Custom attributes must be name/value pairs")
    return [
        {"property": str(name).strip(), "value": item}
        for name, item in pairs
        if str(name).strip() and item not in (None, "")
    ]


def _pairs_of(value: Any) -> list[tuple[Any, Any]] | None:
    """Return (name, value) pairs from a mapping or a [{property, value}] list, else None."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, list) and all(
        isinstance(item, Mapping) and "property" in item for item in value
    ):
        return [(item["property"], item.get("value")) for item in value]
    return None


def _custom_data_dict(customer: Mapping[str, Any]) -> dict[str, Any]:
    """Return a customer's custom attributes as a name -> value mapping."""
    # Requests send a [{property, value}] list; the customer model page shows responses
    # with a plain object. Both shapes are accepted.
    pairs = _pairs_of(customer.get("customData")) or []
    return {str(name): item for name, item in pairs}


def _tags(value: Any) -> list[dict[str, str]]:
    """Return tag names (comma-separated text or a list) as HelpCrunch tag objects."""
    names = value if isinstance(value, list) else _text(value).split(",")
    cleaned = (_text(name) for name in names)
    return [{"name": name} for name in dict.fromkeys(name for name in cleaned if name)]


def _contact_outputs(customer: Any) -> dict[str, Any]:
    """Return the declared outputs of one customer object."""
    if not isinstance(customer, Mapping):
        raise ConnectorError("HelpCrunch answered without a customer object")
    tags = customer.get("tags") if isinstance(customer.get("tags"), list) else []
    return {
        **{name: customer.get(name) for name in (*TEXT_FIELDS, "locale")},
        "id": customer.get("id"),
        "unsubscribed": customer.get("unsubscribed"),
        "firstSeen": _unix_time(customer.get("firstSeen")),
        "lastSeen": _unix_time(customer.get("lastSeen")),
        "tags": [tag["name"] for tag in tags if isinstance(tag, Mapping) and "name" in tag],
        "customData": _custom_data_dict(customer),
    }


def _unix_time(value: Any) -> int | None:
    """Return a Unix timestamp that HelpCrunch may give as a number or a digit string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _customer_id(customer: Mapping[str, Any]) -> int:
    """Return the HelpCrunch id of a customer from a search result."""
    customer_id = customer.get("id")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise ConnectorError("HelpCrunch returned a contact without an id")
    return customer_id


def _customers_in(answer: Any) -> list[dict[str, Any]]:
    """Return the customers of a list or search answer ({"total": n, "data": [...]})."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    if not isinstance(data, list):
        raise ConnectorError("HelpCrunch answered without a list of contacts")
    return [customer for customer in data if isinstance(customer, Mapping)]


def _text(value: Any) -> str:
    """Return a mapped value as trimmed text; None becomes ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _is_html(response: HttpResponse) -> bool:
    """Tell whether an answer is an HTML page (a proxy, a login page, a wrong address)."""
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    return response.text.lstrip()[:1] == "<"


def _html_error(response: HttpResponse, base_url: str) -> ConnectorError:
    """Explain an HTML answer; server-side failures stay worth retrying."""
    status = response.status_code
    message = (
        f"HelpCrunch answered with HTML instead of JSON (status {status}); "
        f"check the API address {base_url}"
    )
    if status == 429 or status >= 500:
        return RetryableError(message, retry_after=_retry_after(response), status=status)
    return ConnectorError(message, status=status)


def _status_error(response: HttpResponse) -> ConnectorError:
    """Return the typed error for an unsuccessful JSON answer."""
    status = response.status_code
    said = _service_message(response)
    if status == 401:
        return AuthError(
            f"HelpCrunch rejected the API key; copy it again from {KEY_LOCATION}"
            + (f" (HelpCrunch said: {said})" if said else ""),
            service_message=said,
            status=status,
        )
    if status == 429:
        retry_after = _retry_after(response)
        return RetryableError(
            f"HelpCrunch rate limit reached (120 requests a minute by default); "
            f"retrying in {retry_after:g} s",
            retry_after=retry_after,
            service_message=said,
            status=status,
        )
    message = f"HelpCrunch answered {status} {response.reason or ''}".rstrip()
    message = f"{message}: {said}" if said else message
    error_class = RetryableError if status >= 500 else ConnectorError
    return error_class(message, service_message=said, status=status)


def _service_message(response: HttpResponse) -> str:
    """Return HelpCrunch's own words: the messages of {"errors": [{code, message}]}."""
    try:
        body = response.json()
    except ValueError:
        return service_message_of(response)
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list):
        messages = [
            str(item["message"]).strip()
            for item in errors
            if isinstance(item, Mapping) and str(item.get("message") or "").strip()
        ]
        if messages:
            return "; ".join(messages)
    return service_message_of(response)


def _retry_after(response: HttpResponse) -> float:
    """Return the wait a rate-limited answer asks for, or one whole limit window."""
    asked = parse_retry_after(response.headers.get("Retry-After"))
    return RATE_LIMIT_WAIT_SECONDS if asked is None else asked
