"""The Russian catalogue is complete and compiled."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

CATALOG = Path(__file__).resolve().parents[1] / "translations" / "ru" / "LC_MESSAGES"


def test_every_russian_entry_is_translated():
    with open(CATALOG / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="ru")
    untranslated = [m.id for m in catalog if m.id and not m.string and not m.fuzzy]
    assert untranslated == []


def test_compiled_catalogue_matches_the_source():
    with open(CATALOG / "messages.po", "rb") as handle:
        source = {m.id: m.string for m in read_po(handle, locale="ru") if m.id}
    with open(CATALOG / "messages.mo", "rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == source, "run scripts/i18n compile"
