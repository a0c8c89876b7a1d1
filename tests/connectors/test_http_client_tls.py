"""Pinning the peer address keeps TLS verification tied to the host name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.errors import ConnectorError
from connectors.http import HttpClient
from tests.connectors.certificates import server_context, write_authority
from tests.fakes.http_sink import HttpSink


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[tuple[HttpSink, Path]]:
    """Run an HTTPS sink whose certificate names sink.test; return it with the CA file."""
    authority, authority_key, ca_file = write_authority(tmp_path)
    context = server_context(tmp_path, authority, authority_key, "sink.test")
    with HttpSink(ssl_context=context) as running:
        yield running, ca_file


@pytest.fixture
def trusting_client(tls_sink) -> Iterator[HttpClient]:
    """Return a guarded client that trusts the test CA and may call loopback."""
    _, ca_file = tls_sink
    with HttpClient(allow_private=True, ca_file=str(ca_file)) as http:
        yield http


def test_certificate_is_verified_against_the_host_name(tls_sink, trusting_client, fake_dns):
    sink, _ = tls_sink
    fake_dns.table["sink.test"] = ["127.0.0.1"]
    response = trusting_client.request("GET", f"https://sink.test:{sink.port}/secure")
    assert response.json() == {"ok": True}
    assert sink.requests[0].headers["host"] == f"sink.test:{sink.port}"


def test_certificate_for_another_name_is_refused(tls_sink, trusting_client, fake_dns):
    sink, _ = tls_sink
    fake_dns.table["impostor.test"] = ["127.0.0.1"]
    with pytest.raises(ConnectorError, match=r"Secure connection to impostor\.test:\d+ failed"):
        trusting_client.request("GET", f"https://impostor.test:{sink.port}/")
    assert sink.requests == []


def test_unknown_authority_is_refused(tls_sink, client, fake_dns):
    sink, _ = tls_sink
    fake_dns.table["sink.test"] = ["127.0.0.1"]
    with pytest.raises(ConnectorError, match="certificate verify failed"):
        client.request("GET", f"https://sink.test:{sink.port}/")
