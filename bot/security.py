"""Hashing of PINs, web access codes, staff passwords and recovery codes, none of them ever stored or logged
in clear; and staff's second factor (TOTP), whose secret is kept as it is (codes are computed from it) but
never logged."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timezone

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.settings import get_settings

_hasher = PasswordHasher()  # argon2id with the library's current defaults
PIN_DIGITS = 6
# A PIN has only a million values (old ones 10,000), so no hashing cost could protect a leaked table: the
# lock-out after wrong PINs does. OWASP's minimum argon2id settings keep PINs out of clear
# text at a fifth of the default's cost, which every family's verification pays.
_pin_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Web access codes: 12 characters of Crockford's base32 (no I, L, O or U to misread), 60 bits, in three
# groups of four ("K7QM-3XTD-9RWP"). Codes issued before were two words and four digits (about 23 bits):
# they keep working until they are re-issued.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS, CODE_GROUP_CHARS = 3, 4
# Staff recovery codes: 10 characters of the same alphabet (50 bits) in two groups ("K7QM3-XTD9R"), each
# used once, kept as keyed digests.
RECOVERY_CODES, RECOVERY_CODE_CHARS = 10, 10
# A TOTP code is accepted from the step before and the step after now (a phone's clock a little off).
TOTP_VALID_WINDOW = 1


def hash_secret(value: str) -> str:
    return _hasher.hash(value)


def same_work_for_nothing(value: str) -> None:
    """The argon2 work of checking a password, for a path that has no password to check (an unknown or
    locked account), so that the time taken tells nothing."""
    verify_secret(_DUMMY_HASH, value)


def hash_pin(pin: str) -> str:
    return _pin_hasher.hash(pin)


_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


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
    """A keyed digest of a web access code, so a typed code can be found by lookup. The key is a secret
    of its own (HARBOUR_CODE_KEY), so rotating the Flask SECRET_KEY leaves codes working."""
    key = get_settings().code_key.encode()
    # Read as Crockford's base32 is read: O is zero, I and L are one.
    typed = normalise_code(code).translate(str.maketrans("OIL", "011"))
    return hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()


def legacy_code_digest(code: str) -> str:
    """The digest codes had when they were keyed with SECRET_KEY; re-keyed at their next sign-in."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, normalise_code(code).encode(), hashlib.sha256).hexdigest()


def new_pin() -> str:
    """A new PIN: 6 digits (a million values). PINs issued before were 4 digits; they keep working until
    they are re-issued."""
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def new_web_code() -> str:
    """60 random bits; always with a digit, so that a code typed into the chat is recognised and masked."""
    while True:
        chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_CHARS))
        if any(c.isdigit() for c in chars):
            return "-".join(chars[i:i + CODE_GROUP_CHARS] for i in range(0, len(chars), CODE_GROUP_CHARS))


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def pin_needs_rehash(stored_hash: str) -> bool:
    return _pin_hasher.check_needs_rehash(stored_hash)


def _event_without_secrets(event: dict) -> dict:
    """A Rasa tracker event with any PIN or access code masked, and the PIN slot emptied."""
    from bot.verification import mask_pins

    if event.get("event") == "user":
        event = {**event, "text": mask_pins(event.get("text") or "", pin_awaited=True)}
        if isinstance(event.get("parse_data"), dict):
            parse_data = dict(event["parse_data"])
            parse_data["text"] = mask_pins(parse_data.get("text") or "", pin_awaited=True)
            parse_data["entities"] = [{**e, "value": mask_pins(str(e.get("value")), pin_awaited=True)}
                                      for e in parse_data.get("entities") or [] if isinstance(e, dict)]
            event["parse_data"] = parse_data
    elif event.get("event") == "slot" and event.get("name") == "pin" and event.get("value") is not None:
        event = {**event, "value": None}
    return event


def purge_tracker_secrets(url: str) -> int:
    """Rewrites the events in Rasa's SQL tracker store so that no PIN or access code is left in them (they
    were kept in clear before the Flask layer checked PINs itself). Returns how many events changed."""
    import json

    from sqlalchemy import MetaData, Table, create_engine, select, update
    from sqlalchemy.exc import NoSuchTableError

    engine = create_engine(url, future=True)
    try:
        events = Table("events", MetaData(), autoload_with=engine)
    except NoSuchTableError:
        return 0
    changed = 0
    with engine.begin() as connection:
        rows = connection.execute(select(events.c.id, events.c.data).where(events.c.type_name.in_(("user", "slot"))))
        for row_id, data in rows.all():
            try:
                event = json.loads(data or "{}")
            except ValueError:
                continue
            cleaned = _event_without_secrets(event)
            if cleaned != event:
                connection.execute(update(events).where(events.c.id == row_id).values(data=json.dumps(cleaned)))
                changed += 1
    engine.dispose()
    return changed


def new_password() -> str:
    """A generated first password for a staff account (about 120 bits), changed at first sign-in."""
    return secrets.token_urlsafe(15)


def recovery_code_digest(code: str) -> str:
    """A keyed digest of a staff recovery code (keyed as web access codes are, with HARBOUR_CODE_KEY, but
    never equal to one: the purpose is part of what is digested)."""
    typed = normalise_code(code).translate(str.maketrans("OIL", "011"))
    return hmac.new(get_settings().code_key.encode(), b"staff-recovery:" + typed.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes() -> list[str]:
    """A fresh set of one-time recovery codes, shown to their owner once."""
    half = RECOVERY_CODE_CHARS // 2
    codes = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(RECOVERY_CODE_CHARS)) for _ in range(RECOVERY_CODES))
    return [f"{code[:half]}-{code[half:]}" for code in codes]


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def totp_uri(secret: str, username: str, issuer: str) -> str:
    """What an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_step(secret: str, typed: str, now: datetime | None = None) -> int | None:
    """The time step whose code this is (within TOTP_VALID_WINDOW steps of now), or None. The caller
    accepts it only if it is later than the last step accepted, so a code never works twice."""
    code = re.sub(r"\s", "", typed or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:  # Harbour's times are naive UTC
        now = now.replace(tzinfo=timezone.utc)
    current = totp.timecode(now)
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
