"""The HTTP request connector sends exactly what the user configured and reports the answer."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError, RetryableError
from connectors.http import HttpClient
from connectors.http_request import HttpRequest


@pytest.fixture
def connector(client) -> HttpRequest:
    """Return the connector wired to a client that may call the local sink."""
    return HttpRequest({}, {}, http=client)


def base_headers(sink) -> dict[str, str]:
    """Return the headers every request carries."""
    return {
        "host": f"127.0.0.1:{sink.port}",
        "user-agent": "svyazka",
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
    }


def test_json_body_is_sent_exactly(connector, sink) -> None:
    connector.run_action(
        "request",
        {
            "method": "post",
            "url": f"{sink.url}/v1/contacts",
            "headers": {"Authorization": "Bearer t0k", "X-Trace": 5},
            "query": {"dry run": "yes", "tag": "a&b"},
            "body_type": "json",
            "body": {"name": "Анна", "tags": ["vip"], "age": 30},
        },
    )
    (sent,) = sink.requests
    assert sent.method == "POST"
    assert sent.path == "/v1/contacts"
    assert sent.query == "dry+run=yes&tag=a%26b"
    assert sent.headers == {
        **base_headers(sink),
        "authorization": "Bearer t0k",
        "x-trace": "5",
        "content-type": "application/json",
        "content-length": str(len(sent.body)),
    }
    assert sent.body == '{"name":"Анна","tags":["vip"],"age":30}'.encode()


def test_json_text_body_is_sent_as_the_document_it_spells(connector, sink) -> None:
    connector.run_action(
        "request", {"method": "PUT", "url": f"{sink.url}/x", "body": ' {"a": [1, 2]} '}
    )
    assert sink.requests[0].body == b'{"a":[1,2]}'


def test_form_body_is_sent_exactly(connector, sink) -> None:
    connector.run_action(
        "request",
        {
            "method": "POST",
            "url": f"{sink.url}/form",
            "body_type": "form",
            "body": {"name": "Ann Lee", "ok": True, "ids": [1, 2], "meta": {"k": "v"}},
        },
    )
    (sent,) = sink.requests
    assert sent.headers == {
        **base_headers(sink),
        "content-type": "application/x-www-form-urlencoded",
        "content-length": str(len(sent.body)),
    }
    assert sent.body == b"name=Ann+Lee&ok=true&ids=1&ids=2&meta=%7B%22k%22%3A%22v%22%7D"


def test_users_content_type_is_kept(connector, sink) -> None:
    connector.run_action(
        "request",
        {
            "method": "POST",
            "url": f"{sink.url}/",
            "headers": {"content-type": "application/vnd.api+json"},
            "body": {"a": 1},
        },
    )
    assert sink.requests[0].headers["content-type"] == "application/vnd.api+json"


def test_get_sends_no_body_by_default(connector, sink) -> None:
    connector.run_action("request", {"url": f"{sink.url}/items?page=2"})
    (sent,) = sink.requests
    assert (sent.method, sent.path, sent.query, sent.body) == ("GET", "/items", "page=2", b"")
    assert sent.headers == base_headers(sink)


def test_body_type_none_drops_the_body(connector, sink) -> None:
    connector.run_action(
        "request",
        {"method": "DELETE", "url": f"{sink.url}/x", "body_type": "none", "body": {"a": 1}},
    )
    assert sink.requests[0].body == b""
    assert "content-type" not in sink.requests[0].headers


def test_json_answer_is_parsed(connector, sink) -> None:
    sink.enqueue(status=201, headers={"X-Request-Id": "r1"}, body={"id": 42})
    result = connector.run_action("request", {"method": "POST", "url": sink.url, "body": {}})
    assert result == {
        "status": 201,
        "headers": {
            "x-request-id": "r1",
            "content-type": "application/json",
            "content-length": "10",
        },
        "body": {"id": 42},
        "ok": True,
    }


def test_text_answer_is_returned_as_text(connector, sink) -> None:
    sink.enqueue(body="plain words")
    result = connector.run_action("request", {"url": sink.url})
    assert result["body"] == "plain words"
    assert result["ok"] is True


def test_long_text_answer_is_cut_to_64_kb(connector, sink) -> None:
    sink.enqueue(body="é" * 40_000)  # 80,000 bytes; the cut falls inside a character
    body = connector.run_action("request", {"url": sink.url})["body"]
    assert body == "é" * 32_768


def test_mislabelled_json_is_returned_as_text(connector, sink) -> None:
    sink.enqueue(headers={"Content-Type": "application/json"}, body="<html>oops</html>")
    assert connector.run_action("request", {"url": sink.url})["body"] == "<html>oops</html>"


def test_not_found_is_permanent_and_quotes_the_body(connector, sink) -> None:
    sink.enqueue(status=404, body="No route " + "x" * 400)
    with pytest.raises(ConnectorError) as caught:
        connector.run_action("request", {"url": f"{sink.url}/missing"})
    assert type(caught.value) is ConnectorError
    assert caught.value.status == 404
    assert str(caught.value) == "127.0.0.1 answered 404 Not Found: No route " + "x" * 291 + "…"


def test_unauthorised_is_not_an_auth_error_here(connector, sink) -> None:
    # No stored credentials to disable: the user's own header was wrong.
    sink.enqueue(status=401, body={"error": "bad token"})
    with pytest.raises(ConnectorError) as caught:
        connector.run_action("request", {"url": sink.url})
    assert type(caught.value) is ConnectorError
    assert '{"error": "bad token"}' in str(caught.value)


def test_server_error_is_retryable(connector, sink) -> None:
    sink.enqueue(status=500, body="boom")
    with pytest.raises(RetryableError, match="500 Internal Server Error: boom"):
        connector.run_action("request", {"url": sink.url})


def test_rate_limit_is_retryable_after_the_asked_delay(connector, sink) -> None:
    sink.enqueue(status=429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableError) as caught:
        connector.run_action("request", {"url": sink.url})
    assert caught.value.retry_after == 7


def test_slow_server_times_out_as_retryable(sink) -> None:
    sink.enqueue(delay=2.0)
    connector = HttpRequest({}, {}, http=HttpClient(allow_private=True, read_timeout=0.2))
    with pytest.raises(RetryableError, match=r"Timed out after 0\.2 s"):
        connector.run_action("request", {"url": sink.url})


def test_private_addresses_are_refused_by_default(sink) -> None:
    with pytest.raises(ConnectorError, match="private or local addresses are blocked"):
        HttpRequest({}, {}).run_action("request", {"url": sink.url})
    assert sink.requests == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "URL is required"),
        ({"url": "http://x.test", "method": "TRACE"}, "Unsupported method 'TRACE'"),
        ({"url": "http://x.test", "headers": "Authorization: x"}, "Headers must be name/value"),
        ({"url": "http://x.test", "body": "{not json"}, "The body is not valid JSON"),
        ({"url": "http://x.test", "body_type": "form", "body": "a=1"}, "form body must be"),
        ({"url": "http://x.test", "body_type": "xml", "body": "<a/>"}, "Unknown body type 'xml'"),
    ],
)
def test_invalid_inputs_are_explained(connector, params: dict, message: str) -> None:
    with pytest.raises(ConnectorError, match=message):
        connector.run_action("request", params)
