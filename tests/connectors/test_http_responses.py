"""Status codes and bodies become typed errors with the service's own words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http import HttpResponse, json_or_error, raise_for_status
from connectors.responses import excerpt, parse_retry_after


@pytest.fixture
def answer(sink, client):
    """Return a function that makes the sink answer once and fetches that answer."""

    def fetch(**programmed: object) -> HttpResponse:
        sink.enqueue(**programmed)
        return client.request("GET", f"{sink.url}/resource")

    return fetch


@pytest.mark.parametrize("status", [200, 201, 204, 304])
def test_success_and_redirect_statuses_pass(answer, status: int) -> None:
    raise_for_status(answer(status=status))


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_raise_auth_error(answer, status: int) -> None:
    with pytest.raises(AuthError) as caught:
        raise_for_status(answer(status=status, body={"message": "Invalid API key"}))
    assert caught.value.status == status
    assert caught.value.service_message == "Invalid API key"
    assert "Invalid API key" in str(caught.value)


def test_forbidden_can_mean_permissions_not_credentials(answer) -> None:
    with pytest.raises(ConnectorError) as caught:
        raise_for_status(
            answer(status=403, body="no access to this pipeline"), auth_statuses=(401,)
        )
    assert type(caught.value) is ConnectorError


def test_client_error_carries_the_service_message(answer) -> None:
    response = answer(status=422, body={"errors": [{"message": "email is invalid"}]})
    with pytest.raises(ConnectorError) as caught:
        raise_for_status(response)
    assert type(caught.value) is ConnectorError
    assert str(caught.value) == "127.0.0.1 answered 422 Unprocessable Entity: email is invalid"


def test_explicit_service_message_wins(answer) -> None:
    with pytest.raises(ConnectorError, match="Contact 7 not found"):
        raise_for_status(
            answer(status=404, body={"error": "x"}), service_message="Contact 7 not found"
        )


def test_rate_limit_is_retryable_with_its_delay(answer) -> None:
    with pytest.raises(RetryableError) as caught:
        raise_for_status(answer(status=429, headers={"Retry-After": "7"}))
    assert caught.value.retry_after == 7
    assert caught.value.status == 429


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(answer, status: int) -> None:
    with pytest.raises(RetryableError) as caught:
        raise_for_status(answer(status=status, body="upstream broke"))
    assert caught.value.retry_after is None
    assert "upstream broke" in str(caught.value)


def test_json_body_is_parsed(answer) -> None:
    assert json_or_error(answer(body={"id": 3})) == {"id": 3}


def test_html_instead_of_json_is_explained(answer) -> None:
    response = answer(
        status=200, headers={"Content-Type": "text/html"}, body="<html>Login page</html>"
    )
    with pytest.raises(ConnectorError) as caught:
        json_or_error(response)
    assert str(caught.value) == "The service answered with HTML instead of JSON (status 200)"


def test_text_instead_of_json_is_quoted(answer) -> None:
    with pytest.raises(ConnectorError, match=r"text instead of JSON \(status 200\): maintenance"):
        json_or_error(answer(body="maintenance"))


def test_empty_body_instead_of_json_is_explained(answer) -> None:
    with pytest.raises(ConnectorError, match="empty body instead of JSON"):
        json_or_error(answer(status=200, body=b""))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header: str | None, seconds: float | None):
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_excerpt_flattens_and_cuts_long_text() -> None:
    assert excerpt("a\n  b\tc") == "a b c"
    assert excerpt("x" * 301) == "x" * 300 + "…"
    assert excerpt("y" * 300) == "y" * 300
