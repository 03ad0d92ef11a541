"""Hashing of PINs, web access codes and staff passwords. None of them is ever stored or logged in clear."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.settings import get_settings

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# A PIN has only 10,000 values, so no hashing cost could protect a leaked table: the
# lock-out after wrong PINs does. OWASP's minimum argon2id settings keep PINs out of clear
# text at a fifth of the default's cost, which every family's verification pays.
_pin_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_CODE_WORDS = (
    "MOOR", "LARK", "TAMAR", "FERN", "HOE", "TOR", "WREN", "DART", "OAK", "ROSE",
    "BAY", "COVE", "REEF", "GULL", "DOVE", "ASH", "ELM", "HAWK", "KITE", "PIER",
    "SAND", "TIDE", "WAVE", "HILL", "MIST", "RAIN", "STAR", "SUN", "VALE", "WOOD",
)


def hash_secret(value: str) -> str:
    return _hasher.hash(value)


def hash_pin(pin: str) -> str:
    return _pin_hasher.hash(pin)


def verify_secret(stored_hash: str | None, value: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, value)
    except (VerificationError, InvalidHashError):
        return False


def normalise_code(code: str) -> str:
    """Access codes are typed by hand: ignore case, spaces and the kind of dash used."""
    return re.sub(r"[^A-Z0-9]", "", code.upper())


def code_digest(code: str) -> str:
    """A keyed digest of a web access code, so a typed code can be found by lookup."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, normalise_code(code).encode(), hashlib.sha256).hexdigest()


def new_pin() -> str:
    return f"{secrets.randbelow(10_000):04d}"


def new_web_code() -> str:
    words = [secrets.choice(_CODE_WORDS) for _ in range(2)]
    return f"{words[0]}-{words[1]}-{secrets.randbelow(10_000):04d}"


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def pin_needs_rehash(stored_hash: str) -> bool:
    return _pin_hasher.check_needs_rehash(stored_hash)
