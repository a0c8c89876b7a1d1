"""The SSRF guard refuses internal addresses, however they are spelled or resolved."""

from __future__ import annotations

import pytest

from connectors import netguard
from connectors.errors import ConnectorError, RetryableError

BLOCKED_URLS = [
    "http://127.0.0.1/",
    "http://localhost:8080/admin",
    "http://api.localhost/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[2002:7f00:1::]/",
    "http://[::127.0.0.1]/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_internal_addresses_are_refused(url: str, fake_dns) -> None:
    with pytest.raises(ConnectorError, match="private or local addresses are blocked"):
        netguard.check_url(url, allow_private=False)


def test_refusal_names_the_address_and_the_remedy() -> None:
    with pytest.raises(ConnectorError) as caught:
        netguard.check_url("http://127.0.0.1:5000/x", allow_private=False)
    assert str(caught.value) == (
        "Refusing to call 127.0.0.1: private or local addresses are blocked; "
        "an admin can allow them in settings"
    )


def test_localhost_is_refused_without_asking_dns(fake_dns) -> None:
    with pytest.raises(ConnectorError, match="Refusing to call localhost"):
        netguard.check_url("http://localhost/", allow_private=False)
    assert fake_dns.calls == []


def test_public_name_resolving_to_loopback_is_refused(fake_dns) -> None:
    fake_dns.table["public.example"] = ["127.0.0.1"]
    with pytest.raises(ConnectorError, match=r"public\.example \(127\.0\.0\.1\)"):
        netguard.check_url("https://public.example/hook", allow_private=False)


def test_any_private_address_among_several_is_refused(fake_dns) -> None:
    fake_dns.table["mixed.example"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(ConnectorError, match=r"10\.1\.2\.3"):
        netguard.check_url("https://mixed.example/", allow_private=False)


def test_public_address_passes_without_network(fake_dns) -> None:
    fake_dns.table["api.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    netguard.check_url("https://api.example/v1/items?x=1", allow_private=False)
    assert fake_dns.calls == ["api.example"]


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f.1/", "http://127.1/"])
def test_odd_spellings_of_loopback_are_refused_after_resolution(url: str) -> None:
    # The system resolver turns these numeric spellings into 127.0.0.1 without any DNS.
    with pytest.raises(ConnectorError, match=r"\(127\.0\.0\.1\)"):
        netguard.check_url(url, allow_private=False)


def test_allow_private_lets_internal_addresses_through(fake_dns) -> None:
    fake_dns.table["intranet.example"] = ["10.0.0.7"]
    netguard.check_url("http://intranet.example/", allow_private=True)
    netguard.check_url("http://127.0.0.1:8080/", allow_private=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://example.com/", "Only http and https"),
        ("example.com/path", "Only http and https"),
        ("http:///path", "has no host"),
        ("https://user:secret@api.example/", "credentials in headers"),
        ("https://token@api.example/", "credentials in headers"),
        ("https://api.example:99999/", "invalid port"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url: str, message: str) -> None:
    with pytest.raises(ConnectorError, match=message):
        netguard.check_url(url, allow_private=True)


def test_unresolvable_name_is_retryable(fake_dns) -> None:
    with pytest.raises(RetryableError, match=r"Could not resolve the host name nowhere\.example"):
        netguard.check_url("https://nowhere.example/", allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_not_blocked(address: str) -> None:
    assert not netguard.is_blocked_address(address)
