"""Loading review records from a seed file such as the demo data.

Loading only adds what is missing: it never overwrites a record, so loading the
same file twice changes nothing and staff edits are never undone.
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import Contact, Professional, Review, ReviewContact, StaffUser
from bot.security import code_digest, hash_pin, hash_secret
from bot.settings import DEMO_SEED_FILE, Settings


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def is_local(url: str) -> bool:
    """Whether a PUBLIC_URL points at this machine only (loopback), so nobody else can reach the app."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_refusal(settings: Settings) -> str | None:
    """Why the demo data (with its published staff passwords) may not be loaded here, or None if it may:
    on a local instance, or when HARBOUR_DEMO=1 forces it; never with HARBOUR_DEMO=0."""
    if settings.demo == "0":
        return "HARBOUR_DEMO=0"
    if settings.demo == "1" or is_local(settings.public_url):
        return None
    return (f"PUBLIC_URL ({settings.public_url}) is not on this machine, and the demo's staff passwords are "
            "published. Create the first admin with: python -m bot create-staff USER NAME --role admin "
            "(or set HARBOUR_DEMO=1 to load the demo anyway)")


@lru_cache(maxsize=1)
def _demo_staff() -> frozenset[str]:
    return frozenset(item["username"] for item in yaml.safe_load(DEMO_SEED_FILE.read_text()).get("staff", []))


def second_factor_waived(username: str, settings: Settings) -> bool:
    """The demo's staff are seeded with the second factor waived, on an instance where the demo may be
    loaded only (local, or HARBOUR_DEMO=1): their passwords are published for trying Harbour out, and
    end-to-end tests sign in with them alone. Anywhere else every admin needs one (README, Security model)."""
    return username in _demo_staff() and demo_refusal(settings) is None


def is_empty(session: Session) -> bool:
    return not any(
        session.scalar(select(func.count()).select_from(model)) for model in (Review, Professional, StaffUser)
    )


def load_seed(session: Session, path: Path) -> Counter:
    """Adds the file's records that are not in the database yet; returns what was added."""
    data = yaml.safe_load(Path(path).read_text())
    added: Counter = Counter()

    professionals = {p.key: p for p in session.scalars(select(Professional))}
    for item in data.get("professionals", []):
        if item["key"] in professionals:
            continue
        professional = Professional(**{k: item.get(k) for k in ("key", "name", "role", "organisation", "email", "phone")})
        session.add(professional)
        professionals[item["key"]] = professional
        added["professionals"] += 1
    session.flush()

    for item in data.get("reviews", []):
        review = session.scalar(select(Review).where(Review.reference == item["reference"]))
        if review is None:
            meeting = item.get("next_family_meeting") or {}
            lead = professionals.get(item.get("lead_reviewer"))
            review = Review(
                reference=item["reference"],
                child_alias=item["child_alias"],
                decision_date=_as_date(item["decision_date"]),
                stage=item["stage"],
                extended_to=_as_date(item.get("extended_to")),
                extension_reason=item.get("extension_reason"),
                published_on=_as_date(item.get("published_on")),
                lead_reviewer=lead,
                next_meeting_at=_as_datetime(meeting.get("at")),
                next_meeting_place=meeting.get("place"),
            )
            session.add(review)
            session.flush()
            added["reviews"] += 1
        for person in item.get("contacts", []):
            contact = _find_or_add_contact(session, person, added)
            exists = session.scalar(
                select(ReviewContact).where(ReviewContact.review_id == review.id, ReviewContact.contact_id == contact.id)
            )
            if exists is None:
                trusted = professionals.get(person.get("trusted_professional"))
                session.add(
                    ReviewContact(
                        review_id=review.id,
                        contact_id=contact.id,
                        relationship_to_child=person["relationship"],
                        trusted_professional=trusted,
                        consent_to_updates=bool(person.get("consent_to_updates", False)),
                    )
                )
                added["review_contacts"] += 1
        session.flush()

    for item in data.get("staff", []):
        if session.scalar(select(StaffUser).where(StaffUser.username == item["username"])) is None:
            session.add(
                StaffUser(
                    username=item["username"],
                    name=item["name"],
                    role=item["role"],
                    password_hash=hash_secret(item["password"]),
                )
            )
            added["staff_users"] += 1
    session.flush()
    return added


def _find_or_add_contact(session: Session, person: dict, added: Counter) -> Contact:
    phone = person.get("phone")
    query = select(Contact).where(Contact.phone == phone) if phone else select(Contact).where(
        Contact.phone.is_(None), Contact.name == person["name"]
    )
    contact = session.scalar(query)
    if contact is None:
        contact = Contact(
            name=person["name"],
            phone=phone,
            pin_hash=hash_pin(str(person["pin"])) if person.get("pin") else None,
            web_code_digest=code_digest(person["web_access_code"]) if person.get("web_access_code") else None,
            preferred_channel=person.get("preferred_channel", "sms"),
        )
        session.add(contact)
        session.flush()
        added["contacts"] += 1
    return contact
