"""A local fake of the HelpCrunch REST API v1 customers endpoints, with inspectable state.

Behaviour copied from the docs (see api-notes.md section 3): Bearer key auth, JSON everywhere,
201 on create, PATCH merges while PUT nulls what it leaves out, POST search with filter[],
comparison, limit, offset, sort and order, {"total": n, "data": [...]} lists,
{"errors": [{code, message}]} error bodies and 429 past 120 requests a minute.
Unconfirmed details, chosen to be plausible: the error codes and texts, the rejection of a
duplicate userId (and email, unless unique_emails=False), the customers.customData.<name>
search field, customData merged by property on PATCH, and no rate-limit header unless
retry_after is given.

    with FakeHelpCrunch() as fake:
        fake.add_customer(name="Ann", email="ann@example.com")
        connector = HelpCrunch({"base_url": fake.base_url}, {"api_key": fake.api_key}, ...)
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

API_PREFIX = "/v1"
RATE_WINDOW_SECONDS = 60.0
MAX_PAGE_SIZE = 100
STRING_FIELDS = (
    "name",
    "email",
    "userId",
    "company",
    "phone",
    "source",
    "referer",
    "lastPage",
    "locale",
    "notes",
    "createdFrom",
    "integrationId",
)
BOOLEAN_FIELDS = ("unsubscribed", "blocked")
TIME_FIELDS = ("firstSeen", "lastSeen")
WRITABLE_FIELDS = frozenset(
    (*STRING_FIELDS, *BOOLEAN_FIELDS, *TIME_FIELDS, "location", "device", "tags", "customData")
)
# Searchable fields and the JSON type their values must have.
SEARCH_TYPES: dict[str, type] = {
    "customers.id": int,
    "customers.name": str,
    "customers.email": str,
    "customers.company": str,
    "customers.phone": str,
    "customers.userId": str,
    "customers.city": str,
    "customers.countryCode": str,
    "customers.regionCode": str,
    "customers.tagsData": list,
    "customers.lastSeen": int,
    "customers.firstSeen": int,
    "customers.telegramId": str,
    "customers.facebookId": str,
    "customers.instagramId": str,
    "customers.viberId": str,
    "customers.whatsappId": str,
}
CUSTOM_DATA_FIELD = "customers.customData."
ORDERING_OPERATORS = (">", "<", ">=", "<=")
TEXT_OPERATORS = ("~", "!~")
SORT_FIELDS = ("customers.firstSeen", "customers.lastSeen")
CUSTOMER_PATH = re.compile(rf"^{API_PREFIX}/customers/(\d+)$")
DEFAULT_TAG_COLOR = "#c377e0"


@dataclass(frozen=True)
class FakeAnswer:
    """Hold one HTTP answer of the fake; delay is waited before it is sent."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ApiError(Exception):
    """Carry an error answer out of a handler (status plus HelpCrunch's error list)."""

    def __init__(self, status: int, *errors: tuple[str, str]) -> None:
        super().__init__(status)
        self.answer = FakeAnswer(
            status, {"errors": [{"code": code, "message": message} for code, message in errors]}
        )


def invalid(code: str, message: str) -> ApiError:
    """Return the 400 HelpCrunch gives for a malformed request or a bad attribute."""
    return ApiError(400, ("invalid_request", "Invalid request"), (code, message))


class FakeHelpCrunch(FakeServer):
    """Serve the HelpCrunch customers API on 127.0.0.1, keeping contacts and a request log."""

    base_path = API_PREFIX

    def __init__(
        self,
        *,
        api_key: str = "hc-test-key",
        requests_per_minute: int = 120,
        retry_after: int | None = None,
        unique_emails: bool = True,
        custom_data_shape: str = "list",
        delay: float = 0.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.requests_per_minute = requests_per_minute
        # Sent as Retry-After on a 429 when set; the docs name no rate-limit header.
        self.retry_after = retry_after
        self.unique_emails = unique_emails
        # "list": [{property, value}] as in the create docs; "object": as on the model page.
        self.custom_data_shape = custom_data_shape
        # Seconds every answer waits, e.g. to make the client time out.
        self.delay = delay
        self.customers: dict[int, dict[str, Any]] = {}
        self.next_id = 1001
        self._planned: deque[FakeAnswer] = deque()
        self._hits: deque[float] = deque()

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        """Store a contact as given (no uniqueness checks) and return a copy of it."""
        with self._lock:
            return copy.deepcopy(self._insert(fields))

    def customer(self, customer_id: int) -> dict[str, Any] | None:
        """Return a copy of the stored contact with this id, if any."""
        with self._lock:
            found = self.customers.get(customer_id)
            return copy.deepcopy(found) if found else None

    def customers_where(self, **values: Any) -> list[dict[str, Any]]:
        """Return copies of the stored contacts whose attributes equal all the given values."""
        with self._lock:
            return [
                copy.deepcopy(customer)
                for customer in self.customers.values()
                if all(customer.get(name) == value for name, value in values.items())
            ]

    def answer_next(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Plan the answer to the next request (before any auth check): an outage, HTML..."""
        with self._lock:
            self._planned.append(FakeAnswer(status, body, dict(headers or {}), delay))

    def respond(self, request: RecordedRequest) -> Reply:
        """Encode the answer to a request: text and bytes as given, anything else as JSON."""
        answer = self.handle(request)
        headers = dict(answer.headers)
        if isinstance(answer.body, bytes | str):
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
        else:
            body = json.dumps(answer.body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        return Reply(answer.status, headers, body, answer.delay or self.delay)

    def handle(self, request: RecordedRequest) -> FakeAnswer:
        """Log a request and return the answer HelpCrunch would give."""
        with self._lock:
            self._log.append(request)
            if self._planned:
                return self._planned.popleft()
            try:
                self._check_auth(request)
                self._count_against_limit()
                return self._route(request)
            except ApiError as error:
                return error.answer

    def _check_auth(self, request: RecordedRequest) -> None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, ("unauthorized", "Invalid API key"))

    def _count_against_limit(self) -> None:
        now = time.monotonic()
        while self._hits and now - self._hits[0] >= RATE_WINDOW_SECONDS:
            self._hits.popleft()
        if len(self._hits) >= self.requests_per_minute:
            error = ApiError(429, ("too_many_requests", "Too many requests"))
            if self.retry_after is not None:
                error.answer.headers["Retry-After"] = str(self.retry_after)
            raise error
        self._hits.append(now)

    def _route(self, request: RecordedRequest) -> FakeAnswer:
        path, method = request.path, request.method
        if path == f"{API_PREFIX}/customers" and method == "GET":
            return self._list(request.query_params)
        if path == f"{API_PREFIX}/customers" and method == "POST":
            return self._create(_json_object(request))
        if path == f"{API_PREFIX}/customers/search" and method == "POST":
            return self._search(_json_object(request))
        match = CUSTOMER_PATH.match(path)
        if match and method in ("GET", "PATCH", "PUT"):
            customer = self.customers.get(int(match.group(1)))
            if customer is None:
                raise ApiError(404, ("not_found", "Customer not found"))
            if method == "GET":
                return FakeAnswer(200, self._shown(customer))
            return self._update(customer, _json_object(request), replace=method == "PUT")
        raise ApiError(404, ("not_found", "Not found"))

    def _list(self, query: dict[str, list[str]]) -> FakeAnswer:
        def first(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        customers = self._sorted(
            list(self.customers.values()),
            first("sort", "customers.firstSeen"),
            first("order", "desc"),
        )
        offset, limit = _page(first("offset", "0"), first("limit", str(MAX_PAGE_SIZE)))
        return self._page_answer(customers, offset, limit)

    def _search(self, body: dict[str, Any]) -> FakeAnswer:
        filters = body.get("filter", [])
        if not isinstance(filters, list):
            raise invalid("filter", "filter must be an array")
        comparison = str(body.get("comparison", "AND")).upper()
        if comparison not in ("AND", "OR"):
            raise invalid("comparison", "comparison must be AND or OR")
        tests = [_filter_test(item) for item in filters]
        combine = all if comparison == "AND" else any
        found = [
            customer
            for customer in self.customers.values()
            if not tests or combine(test(customer) for test in tests)
        ]
        found = self._sorted(
            found, body.get("sort", "customers.firstSeen"), body.get("order", "desc")
        )
        offset, limit = _page(body.get("offset", 0), body.get("limit", MAX_PAGE_SIZE))
        return self._page_answer(found, offset, limit)

    def _create(self, body: dict[str, Any]) -> FakeAnswer:
        _validate(body)
        self._refuse_duplicates(body, except_id=None)
        now = int(time.time())
        fields = {"firstSeen": now, "lastSeen": now, **body}
        return FakeAnswer(201, self._shown(self._insert(fields)))

    def _update(
        self, customer: dict[str, Any], body: dict[str, Any], *, replace: bool
    ) -> FakeAnswer:
        _validate(body)
        self._refuse_duplicates(body, except_id=customer["id"])
        if replace:
            # PUT replaces: every writable attribute left out becomes null (tags have their
            # own endpoints and stay).
            for name in WRITABLE_FIELDS - {"tags", "customData"}:
                customer[name] = None
            customer["customData"] = []
        for name, value in body.items():
            if name == "customData" and not replace:
                customer[name] = _merged_custom_data(customer.get(name) or [], value)
            elif name == "tags":
                customer[name] = _tags(value)
            else:
                customer[name] = value
        return FakeAnswer(200, self._shown(customer))

    def _refuse_duplicates(self, body: dict[str, Any], *, except_id: int | None) -> None:
        unique = ("userId", "email") if self.unique_emails else ("userId",)
        for name in unique:
            value = body.get(name)
            taken = value is not None and any(
                other.get(name) == value and other["id"] != except_id
                for other in self.customers.values()
            )
            if taken:
                raise invalid("customer", f"Customer with this {name} already exists")

    def _insert(self, fields: dict[str, Any]) -> dict[str, Any]:
        customer_id = fields.get("id") or self.next_id
        self.next_id = max(self.next_id, customer_id) + 1
        customer = {**_blank_customer(), **fields, "id": customer_id}
        customer["tags"] = _tags(customer["tags"] or [])
        if isinstance(customer["customData"], dict):
            customer["customData"] = [
                {"property": name, "value": value} for name, value in customer["customData"].items()
            ]
        self.customers[customer_id] = customer
        return customer

    def _sorted(self, customers: list[dict[str, Any]], sort: Any, order: Any) -> list[dict]:
        if sort not in SORT_FIELDS:
            raise invalid("sort", f"sort must be one of {', '.join(SORT_FIELDS)}")
        if str(order).lower() not in ("asc", "desc"):
            raise invalid("order", "order must be asc or desc")
        name = sort.removeprefix("customers.")
        # Ties keep the newest contact first, as ids grow over time.
        return sorted(
            customers,
            key=lambda customer: (int(customer.get(name) or 0), customer["id"]),
            reverse=str(order).lower() == "desc",
        )

    def _page_answer(self, customers: list[dict], offset: int, limit: int) -> FakeAnswer:
        page = customers[offset : offset + limit]
        return FakeAnswer(
            200, {"total": len(customers), "data": [self._shown(item) for item in page]}
        )

    def _shown(self, customer: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(customer)
        if self.custom_data_shape == "object":
            shown["customData"] = {
                item["property"]: item["value"] for item in shown.get("customData") or []
            }
        return shown


def _blank_customer() -> dict[str, Any]:
    """Return a customer with every attribute the API shows, all empty."""
    return {
        **dict.fromkeys(STRING_FIELDS),
        "firstSeen": None,
        "lastSeen": None,
        "location": {"regionCode": None, "countryCode": None, "city": None},
        "device": None,
        "unsubscribed": False,
        "blocked": False,
        "tags": [],
        "customData": [],
    }


def _json_object(request: RecordedRequest) -> dict[str, Any]:
    """Return the request body as a JSON object, or the 400 HelpCrunch gives."""
    if "application/json" not in request.headers.get("content-type", ""):
        raise invalid("content_type", "Content-Type must be application/json")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise invalid("body", "Malformed JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object")
    return body


def _validate(body: dict[str, Any]) -> None:
    """Refuse unknown attributes and values of the wrong type, like the real API."""
    for name, value in body.items():
        if name not in WRITABLE_FIELDS:
            raise invalid(name, f"Unknown attribute {name!r}")
        if name in STRING_FIELDS and value is not None and not isinstance(value, str):
            raise invalid(name, f"{name} must be a string")
        if name in BOOLEAN_FIELDS and not isinstance(value, bool | None):
            raise invalid(name, f"{name} must be a boolean")
    email = body.get("email")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise invalid("email", "This value is not a valid email address.")
    custom_data = body.get("customData")
    if custom_data is not None and not _is_custom_data_list(custom_data):
        raise invalid("customData", "customData must be an array of {property, value}")
    tags = body.get("tags")
    if tags is not None and not (
        isinstance(tags, list) and all(isinstance(tag, dict) and tag.get("name") for tag in tags)
    ):
        raise invalid("tags", "tags must be an array of {name, color}")


def _is_custom_data_list(value: Any) -> bool:
    """Tell whether a value is a [{property, value}] list with scalar values."""
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and isinstance(item.get("property"), str)
        and isinstance(item.get("value"), str | int | float | bool | None)
        for item in value
    )


def _merged_custom_data(current: list[dict], changes: list[dict]) -> list[dict]:
    """Merge custom attributes by property; a null value removes the attribute."""
    merged = {item["property"]: item["value"] for item in current}
    for item in changes:
        if item.get("value") is None:
            merged.pop(item["property"], None)
        else:
            merged[item["property"]] = item["value"]
    return [{"property": name, "value": value} for name, value in merged.items()]


def _tags(tags: list[dict]) -> list[dict[str, str]]:
    """Return tags with the default color filled in."""
    return [{"name": tag["name"], "color": tag.get("color") or DEFAULT_TAG_COLOR} for tag in tags]


def _filter_test(item: Any) -> Any:
    """Return a predicate for one search filter, or raise the 400 a bad filter gets."""
    if not isinstance(item, dict) or {"field", "operator", "value"} - set(item):
        raise invalid("filter", "Each filter needs field, operator and value")
    name, operator, wanted = item["field"], item["operator"], item["value"]
    if isinstance(name, str) and name.startswith(CUSTOM_DATA_FIELD):
        expected: type | tuple[type, ...] = (str, int, float, bool)
    elif name in SEARCH_TYPES:
        expected = SEARCH_TYPES[name]
    else:
        raise invalid("filter", f"Unknown search field {name!r}")
    if not isinstance(wanted, expected) or (isinstance(wanted, bool) and expected is int):
        raise invalid("filter", f"Invalid value type for {name}")
    allowed = ["=", "!="]
    if expected is int:
        allowed += ORDERING_OPERATORS
    if expected is str:
        allowed += TEXT_OPERATORS
    if operator not in allowed:
        raise invalid("filter", f"Operator {operator!r} is not allowed for {name}")
    return lambda customer: _compare(_value_of(customer, name), operator, wanted)


def _value_of(customer: dict[str, Any], name: str) -> Any:
    """Return the customer value a search field refers to."""
    if name.startswith(CUSTOM_DATA_FIELD):
        wanted = name.removeprefix(CUSTOM_DATA_FIELD)
        values = {item["property"]: item["value"] for item in customer.get("customData") or []}
        return values.get(wanted)
    attribute = name.removeprefix("customers.")
    if attribute in ("city", "countryCode", "regionCode"):
        return (customer.get("location") or {}).get(attribute)
    if attribute == "tagsData":
        return [{"name": tag["name"]} for tag in customer.get("tags") or []]
    return customer.get(attribute)


def _compare(actual: Any, operator: str, wanted: Any) -> bool:
    """Apply one search operator; tags match when all wanted tag names are present."""
    if isinstance(wanted, list):
        names = {tag.get("name") for tag in actual or []}
        return all(tag.get("name") in names for tag in wanted if isinstance(tag, dict))
    if operator == "=":
        return actual == wanted
    if operator == "!=":
        return actual != wanted
    if operator in TEXT_OPERATORS:
        contains = actual is not None and str(wanted).lower() in str(actual).lower()
        return contains if operator == "~" else not contains
    if actual is None:
        return False
    return {
        ">": actual > wanted,
        "<": actual < wanted,
        ">=": actual >= wanted,
        "<=": actual <= wanted,
    }[operator]


def _page(offset: Any, limit: Any) -> tuple[int, int]:
    """Return a valid offset and limit, or the 400 an invalid page gets."""
    try:
        offset, limit = int(offset), int(limit)
    except (TypeError, ValueError):
        raise invalid("limit", "offset and limit must be integers") from None
    if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return offset, limit
