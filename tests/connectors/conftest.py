"""Fixtures for connector tests: a local HTTP sink, HTTP clients and a fake DNS."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from connectors import netguard
from connectors.http import HttpClient
from tests.fakes.http_sink import HttpSink


class FakeDns:
    """Answer name lookups from a table and remember every name asked for."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        """Return the addresses for a name; IP literals resolve to themselves."""
        self.calls.append(host)
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    """Run a recording HTTP server on 127.0.0.1 for one test."""
    with HttpSink() as running:
        yield running


@pytest.fixture
def client() -> Iterator[HttpClient]:
    """Return a guarded client that may call the local sink (private addresses allowed)."""
    with HttpClient(allow_private=True) as http:
        yield http


@pytest.fixture
def strict_client() -> Iterator[HttpClient]:
    """Return a guarded client with private addresses blocked, as in production."""
    with HttpClient(allow_private=False, connect_timeout=1.0) as http:
        yield http


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Route the guard's name resolution through a table, so no test needs real DNS."""
    dns = FakeDns()
    monkeypatch.setattr(netguard, "resolve_addresses", dns.resolve)
    return dns
