"""The registry finds connectors by key and lists them for the catalog."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.base import Connector
from connectors.http_request import HttpRequest
from connectors.webhook import Webhook


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Connector]]:
    """Give a test its own copy of the registry."""
    copy = dict(registry.REGISTRY)
    monkeypatch.setattr(registry, "REGISTRY", copy)
    return copy


def test_builtin_connectors_are_found_by_key() -> None:
    assert registry.get_connector("webhook") is Webhook
    assert registry.get_connector("http_request") is HttpRequest


def test_unknown_key_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"No connector is registered as 'nope'; known: .*webhook"):
        registry.get_connector("nope")


def test_all_connectors_are_sorted_by_name() -> None:
    names = [cls.name for cls in registry.all_connectors()]
    assert names == sorted(names, key=str.casefold)
    assert {"HTTP request", "Webhook"} <= set(names)


def test_a_taken_key_is_refused(clean_registry) -> None:
    class Impostor(Connector):
        key = "webhook"

    with pytest.raises(ValueError, match=r"already used by connectors\.webhook\.Webhook"):
        registry.register(Impostor)


def test_a_connector_without_key_is_refused(clean_registry) -> None:
    class Nameless(Connector):
        pass

    with pytest.raises(ValueError, match="Nameless has no key"):
        registry.register(Nameless)


def test_registering_the_same_class_again_is_harmless(clean_registry) -> None:
    assert registry.register(Webhook) is Webhook
    assert clean_registry["webhook"] is Webhook
