"""The webhook connector turns received requests into items and learns fields from them."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError
from connectors.fields import Field
from connectors.webhook import Webhook


def receive(body: str = "", content_type: str = "", query: dict | None = None) -> list[dict]:
    """Feed one request to the catch trigger and return its items."""
    headers = {"Content-Type": content_type} if content_type else {}
    event = {"headers": headers, "query": query or {}, "body": body}
    return Webhook({}, {}).receive("catch", {}, event)


def test_json_object_is_one_item() -> None:
    assert receive('{"order": {"id": 7}}', "application/json") == [{"order": {"id": 7}}]


def test_json_array_is_one_item_per_element() -> None:
    assert receive('[{"id": 1}, {"id": 2}, 3]', "application/json; charset=utf-8") == [
        {"id": 1},
        {"id": 2},
        {"value": 3},
    ]


def test_unlabelled_json_is_still_parsed() -> None:
    assert receive('{"a": 1}') == [{"a": 1}]


def test_form_body_becomes_fields() -> None:
    items = receive("name=Ann+Lee&phone=%2B380&empty=", "application/x-www-form-urlencoded")
    assert items == [{"name": "Ann Lee", "phone": "+380", "empty": ""}]


def test_plain_text_is_kept_whole() -> None:
    assert receive("hello", "text/plain") == [{"body": "hello"}]


def test_bodiless_callback_uses_the_query_string() -> None:
    assert receive("", query={"status": "paid", "id": "9"}) == [{"status": "paid", "id": "9"}]


def test_catch_cannot_be_polled() -> None:
    with pytest.raises(ConnectorError, match="receives webhooks"):
        Webhook({}, {}).poll("catch", {}, None)


def test_nothing_to_test() -> None:
    assert Webhook({}, {}).test_connection() == {}


def test_fields_are_learned_from_a_sample() -> None:
    sample = {
        "contact": {"name": "Ann", "age": 31, "vip": True, "phones": ["+380"]},
        "note": None,
        "extra": {},
    }
    assert Webhook.fields_from_sample(sample) == (
        Field("contact.name", "contact.name", type="string"),
        Field("contact.age", "contact.age", type="number"),
        Field("contact.vip", "contact.vip", type="boolean"),
        Field("contact.phones", "contact.phones", type="json"),
        Field("note", "note", type="string"),
        Field("extra", "extra", type="json"),
    )
