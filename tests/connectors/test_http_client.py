"""HttpClient: guarded connections, checked redirects, timeouts and transport errors."""

from __future__ import annotations

import socket

import pytest
from urllib3.util import connection

from connectors import netguard
from connectors.errors import ConnectorError, RetryableError
from connectors.http import HttpClient

BLOCKED_TARGETS = [
    "http://127.0.0.1:9/",
    "http://localhost:9/",
    "http://[::1]:9/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]:9/",
]


@pytest.mark.parametrize("url", BLOCKED_TARGETS)
def test_private_targets_are_refused_before_connecting(strict_client, url: str) -> None:
    with pytest.raises(ConnectorError, match="private or local addresses are blocked"):
        strict_client.request("GET", url)


def test_loopback_sink_is_refused_when_private_is_blocked(strict_client, sink) -> None:
    with pytest.raises(ConnectorError, match=r"Refusing to call 127\.0\.0\.1"):
        strict_client.request("GET", f"{sink.url}/hook")
    assert sink.requests == []


def test_connection_uses_the_guards_resolution(client, sink, fake_dns) -> None:
    # "sink.test" exists only in the fake DNS: reaching the sink proves the socket was
    # opened to the address the guard resolved and vetted, not to a second lookup.
    fake_dns.table["sink.test"] = ["127.0.0.1"]
    response = client.request("GET", f"http://sink.test:{sink.port}/ping")
    assert response.status_code == 200
    assert sink.requests[0].headers["host"] == f"sink.test:{sink.port}"
    assert fake_dns.calls == ["sink.test"]


def test_dns_rebinding_after_a_check_is_still_refused(strict_client, sink, monkeypatch) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(netguard, "resolve_addresses", lambda host, port: next(answers))
    url = f"http://rebind.test:{sink.port}/"
    netguard.check_url(url, allow_private=False)  # the first answer looks public
    with pytest.raises(ConnectorError, match=r"rebind\.test \(127\.0\.0\.1\)"):
        strict_client.request("GET", url)
    assert sink.requests == []


def test_redirects_are_followed_and_post_becomes_get(client, sink) -> None:
    sink.enqueue(status=302, headers={"Location": "/final?step=2"})
    response = client.request("POST", f"{sink.url}/start", params={"a": "1"}, json={"x": 1})
    assert response.status_code == 200
    first, second = sink.requests
    assert (first.method, first.path, first.query, first.body) == (
        "POST",
        "/start",
        "a=1",
        b'{"x": 1}',
    )
    assert (second.method, second.path, second.query, second.body) == (
        "GET",
        "/final",
        "step=2",
        b"",
    )
    assert "content-type" not in second.headers


def test_307_keeps_method_and_body(client, sink) -> None:
    sink.enqueue(status=307, headers={"Location": f"{sink.url}/again"})
    client.request("PUT", f"{sink.url}/once", data=b"payload")
    assert [(r.method, r.path, r.body) for r in sink.requests] == [
        ("PUT", "/once", b"payload"),
        ("PUT", "/again", b"payload"),
    ]


def test_credentials_do_not_follow_a_redirect_to_another_host(client, sink, fake_dns) -> None:
    fake_dns.table["other.test"] = ["127.0.0.1"]
    sink.enqueue(status=302, headers={"Location": f"http://other.test:{sink.port}/landing"})
    client.request("GET", f"{sink.url}/", headers={"Authorization": "Bearer s3cret", "X-Id": "7"})
    first, second = sink.requests
    assert first.headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in second.headers
    assert second.headers["x-id"] == "7"


def test_redirect_to_a_private_address_is_refused(sink, monkeypatch) -> None:
    # Pretend the sink's own address is public, so only the redirect target is internal.
    is_blocked = netguard.is_blocked_address
    monkeypatch.setattr(
        netguard, "is_blocked_address", lambda ip: ip != "127.0.0.1" and is_blocked(ip)
    )
    sink.enqueue(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with (
        HttpClient(allow_private=False, connect_timeout=0.5) as http,
        pytest.raises(ConnectorError, match=r"Refusing to call 169\.254\.169\.254"),
    ):
        http.request("GET", f"{sink.url}/innocent")
    assert len(sink.requests) == 1


def test_redirect_to_another_scheme_is_refused(client, sink) -> None:
    sink.enqueue(status=301, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(ConnectorError, match="Only http and https"):
        client.request("GET", f"{sink.url}/")


def test_redirect_loops_stop_after_five(client, sink) -> None:
    for step in range(6):
        sink.enqueue(status=302, headers={"Location": f"/hop{step}"})
    with pytest.raises(ConnectorError, match="Stopped after 5 redirects"):
        client.request("GET", f"{sink.url}/")
    assert len(sink.requests) == 6


def test_slow_answer_times_out_as_retryable(sink) -> None:
    sink.enqueue(body={"late": True}, delay=2.0)
    with (
        HttpClient(allow_private=True, read_timeout=0.2) as http,
        pytest.raises(RetryableError) as caught,
    ):
        http.request("GET", f"{sink.url}/slow")
    assert str(caught.value) == f"Timed out after 0.2 s contacting 127.0.0.1:{sink.port}"


def test_per_request_timeout_overrides_the_default(client, sink) -> None:
    sink.enqueue(delay=2.0)
    with pytest.raises(RetryableError, match=r"Timed out after 0\.1 s"):
        client.request("GET", f"{sink.url}/slow", timeout=0.1)


def test_refused_connection_is_retryable(client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError) as caught:
        client.request("GET", f"http://127.0.0.1:{port}/")
    assert str(caught.value) == f"Could not connect to 127.0.0.1:{port}: Connection refused"


def test_connect_timeout_is_retryable(client, monkeypatch) -> None:
    def never_connects(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(connection, "create_connection", never_connects)
    with pytest.raises(RetryableError, match=r"Timed out after 5 s connecting to 127\.0\.0\.1:9"):
        client.request("GET", "http://127.0.0.1:9/")


def test_unknown_host_is_retryable(client, fake_dns) -> None:
    with pytest.raises(RetryableError, match=r"Could not resolve the host name gone\.test"):
        client.request("GET", "https://gone.test/")


def test_unguarded_client_calls_loopback(sink) -> None:
    with HttpClient(guard=False) as http:
        assert http.request("GET", f"{sink.url}/").json() == {"ok": True}


def test_default_headers_are_fixed(client, sink) -> None:
    client.request("GET", f"{sink.url}/")
    assert sink.requests[0].headers == {
        "host": f"127.0.0.1:{sink.port}",
        "user-agent": "svyazka",
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
    }
