"""Secrets at rest: AES-GCM under a key ring with key ids, so keys can be rotated."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

FORMAT = b"s1"
KEYS_FILE = "encryption_keys"


class SecretsError(RuntimeError):
    """Sealed data that cannot be opened: a missing key or tampered bytes."""


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256 keys; the first one seals, all of them open."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def primary(self) -> tuple[str, bytes]:
        """Return the key id and key that seal new data."""
        return self.keys[0]

    def key(self, key_id: str) -> bytes:
        """Return the key with this id."""
        for candidate_id, key in self.keys:
            if candidate_id == key_id:
                return key
        raise SecretsError(f"encryption key {key_id!r} is not configured")


def parse_keys(text: str) -> KeyRing:
    """Parse "id:base64key,id2:base64key2" (first is primary) into a key ring."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key_id, _, encoded = part.partition(":")
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not key_id or len(key) != 32:
            raise SecretsError("each encryption key must be 'id:' + 32 bytes in base64")
        pairs.append((key_id, key))
    if not pairs:
        raise SecretsError("no encryption key configured")
    return KeyRing(tuple(pairs))


def new_key_entry() -> str:
    """Make a fresh "id:base64key" entry."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    return f"k{secrets.token_hex(4)}:{key}"


def keys_file(app=None) -> Path:
    """Return the instance file that holds generated keys."""
    return Path((app or current_app).instance_path) / KEYS_FILE


def key_ring(app=None) -> KeyRing:
    """Return the app's key ring: the environment's, else the instance file's (made once)."""
    app = app or current_app
    configured = app.config.get("ENCRYPTION_KEYS") or ""
    if configured:
        return parse_keys(str(configured))
    path = keys_file(app)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_entry())
    return parse_keys(path.read_text())


def seal(data: dict, ring: KeyRing | None = None) -> bytes:
    """Encrypt a JSON-able dict with the primary key."""
    ring = ring or key_ring()
    key_id, key = ring.primary
    nonce = os.urandom(12)
    header = FORMAT + bytes([len(key_id)]) + key_id.encode()
    plaintext = json.dumps(data, separators=(",", ":")).encode()
    # The header is authenticated too, so a key id cannot be swapped.
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header)


def unseal(blob: bytes | None, ring: KeyRing | None = None) -> dict:
    """Decrypt what seal() made; an empty blob is an empty dict."""
    if not blob:
        return {}
    if blob[:2] != FORMAT:
        raise SecretsError("unknown sealed format")
    ring = ring or key_ring()
    id_length = blob[2]
    header = blob[: 3 + id_length]
    key_id = header[3:].decode()
    nonce, ciphertext = blob[len(header): len(header) + 12], blob[len(header) + 12:]
    try:
        plaintext = AESGCM(ring.key(key_id)).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise SecretsError("sealed data failed authentication") from None
    return json.loads(plaintext)


def sealed_key_id(blob: bytes | None) -> str | None:
    """Tell which key sealed a blob."""
    if not blob or blob[:2] != FORMAT:
        return None
    return blob[3: 3 + blob[2]].decode()
