"""The demo data: loaded on first run, never twice, never over existing records."""
from pathlib import Path

import yaml
from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Contact, Professional, Review, ReviewContact, StaffUser
from bot.schema import migrate, prepare
from bot.security import verify_secret
from bot.seed import load_seed
from bot.settings import DEMO_SEED_FILE, get_settings

SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "demo" / "seed.yml"


def counts(session):
    return {m.__name__: session.scalar(select(func.count()).select_from(m))
            for m in (Professional, Review, Contact, ReviewContact, StaffUser)}


def seeded_rows(session):
    """The demo file's own records in the database, counted by table (other tests add records beside them)."""
    seed = yaml.safe_load(DEMO_SEED_FILE.read_text())
    phones = [c["phone"] for r in seed["reviews"] for c in r["contacts"]]
    found = {
        "Professional": select(Professional).where(Professional.key.in_([p["key"] for p in seed["professionals"]])),
        "Review": select(Review).where(Review.reference.in_([r["reference"] for r in seed["reviews"]])),
        "Contact": select(Contact).where(Contact.phone.in_(phones)),
        "ReviewContact": select(ReviewContact).join(Contact).where(Contact.phone.in_(phones)),
        "StaffUser": select(StaffUser).where(StaffUser.username.in_([u["username"] for u in seed["staff"]])),
    }
    return {name: session.scalar(select(func.count()).select_from(query.subquery())) for name, query in found.items()}


def test_the_demo_data_is_loaded_once(database):
    with session_scope() as session:
        assert seeded_rows(session) == {"Professional": 4, "Review": 3, "Contact": 4, "ReviewContact": 4, "StaffUser": 2}
        before = counts(session)
    assert prepare() is False  # not empty any more: nothing loaded
    with session_scope() as session:
        added = load_seed(session, DEMO_SEED_FILE)
        assert sum(added.values()) == 0
        assert counts(session) == before


def test_loading_never_overwrites_what_staff_changed(database):
    with session_scope() as session:
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-014"))
        review.stage = "drafting_report"
    with session_scope() as session:
        load_seed(session, DEMO_SEED_FILE)
        review = session.scalar(select(Review).where(Review.reference == "PSCP-2026-014"))
        assert review.stage == "drafting_report"
        review.stage = "family_meetings"


def test_migrating_an_already_migrated_database_changes_nothing(database):
    with session_scope() as session:
        before = counts(session)
    migrate()
    migrate()
    with session_scope() as session:
        assert counts(session) == before


def test_pins_and_codes_are_stored_hashed(database):
    with session_scope() as session:
        sam = session.scalar(select(Contact).where(Contact.phone == "+447700900123"))
        assert "4821" not in sam.pin_hash
        assert verify_secret(sam.pin_hash, "4821")
        assert not verify_secret(sam.pin_hash, "4822")
        lee = session.scalar(select(Contact).where(Contact.phone == "+447700900124"))
        assert "MOOR" not in lee.web_code_digest


def test_the_repository_copy_matches_the_shared_demo_data():
    assert yaml.safe_load(DEMO_SEED_FILE.read_text()) == yaml.safe_load(SHARED_SEED.read_text())


def test_partnership_settings_agree_with_the_demo_data():
    seed = yaml.safe_load(DEMO_SEED_FILE.read_text())["partnership"]
    partnership = get_settings().partnership
    assert (partnership.name, partnership.email, partnership.website) == (seed["name"], seed["email"], seed["website"])
