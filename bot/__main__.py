"""Database commands: `python -m bot <command>`. Run with --help for the list."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import session_scope
from bot.models import Contact, StaffUser
from bot.schema import migrate, prepare
from bot.security import hash_secret, new_password, purge_tracker_secrets
from bot.seed import load_seed
from bot.settings import get_settings
from bot.verification import issue_pin, issue_web_code


def _contact(session, phone: str) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.phone == phone))
    if contact is None:
        sys.exit(f"No family contact has the number {phone}.")
    return contact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Harbour database commands")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply schema migrations")
    commands.add_parser("prepare", help="migrate, and load the demo data if the database is empty")
    seed = commands.add_parser("seed", help="add a seed file's records that are not there yet")
    seed.add_argument("file", type=Path)
    staff = commands.add_parser("create-staff", help="create a staff user with a generated first password, "
                                                     "printed once and changed at first sign-in")
    staff.add_argument("username")
    staff.add_argument("name")
    staff.add_argument("--role", choices=("reviewer", "admin"), default="reviewer")
    pin = commands.add_parser("issue-pin", help="issue a new PIN to a family contact, printed once")
    pin.add_argument("phone", help="the contact's number in E.164, e.g. +447700900123")
    code = commands.add_parser("issue-web-code", help="issue a new web access code, printed once")
    code.add_argument("phone", help="the contact's number in E.164")
    commands.add_parser("purge-secrets", help="remove PINs and access codes from Rasa's stored conversations")
    commands.add_parser("chase-urgent", help="alert on-call again about urgent escalations nobody claimed (for cron)")
    retention = commands.add_parser("retention", help="delete what is past its retention (docs/dpia.md); for cron")
    retention.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    export = commands.add_parser("export-contact", help="write a copy of everything held about one contact "
                                                        "(JSON and HTML, for a subject access request)")
    export.add_argument("phone", help="the contact's number in E.164")
    export.add_argument("--out", type=Path, default=Path("."), help="the directory for the two files")
    erase = commands.add_parser("erase-contact", help="erase one contact on their request (asks to confirm)")
    erase.add_argument("phone", help="the contact's number in E.164")
    erase.add_argument("--reason", required=True, help="for the audit log, e.g. 'request by e-mail on 3 March'")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reviewed = commands.add_parser("export-reviewed", help="write the learning inbox's confirmed and relabelled "
                                                          "examples, masked, to data/nlu/reviewed/<date>.yml")
    reviewed.add_argument("--out", type=Path, default=None, help="the directory (default data/nlu/reviewed)")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        migrate()
        print("Database schema is up to date.")
    elif args.command == "prepare":
        print("Loaded the demo data." if prepare() else "Database ready (existing records kept).")
    elif args.command == "seed":
        migrate()
        with session_scope() as session:
            added = load_seed(session, args.file)
        print("Added: " + (", ".join(f"{n} {k}" for k, n in added.items()) or "nothing new"))
    elif args.command == "create-staff":
        migrate()
        password = new_password()
        with session_scope() as session:
            if session.scalar(select(StaffUser).where(StaffUser.username == args.username)):
                sys.exit(f"There is already a staff user called {args.username}.")
            session.add(StaffUser(username=args.username, name=args.name, role=args.role,
                                  password_hash=hash_secret(password), must_change_password=True))
        print(f"Created {args.role} {args.username}. First password (shown once, to be changed at first "
              f"sign-in): {password}")
        if args.role == "admin" or get_settings().reviewer_totp == "required":
            print("At first sign-in they also set up a second factor (an authenticator app) before anything else.")
    elif args.command == "issue-pin":
        with session_scope() as session:
            value = issue_pin(session, _contact(session, args.phone))
        print(f"New PIN (shown once): {value}")
    elif args.command == "issue-web-code":
        with session_scope() as session:
            value = issue_web_code(session, _contact(session, args.phone))
        print(f"New web access code (shown once): {value}")
    elif args.command == "purge-secrets":
        print(f"Removed PINs and access codes from {purge_tracker_secrets(get_settings().tracker_store_url)} "
              "stored Rasa event(s).")
    elif args.command == "chase-urgent":
        from webhook.outbound import chase_unclaimed_urgent
        from webhook.spool import replay

        replay()
        print(f"Chased {chase_unclaimed_urgent()} unclaimed urgent escalation(s).")
    elif args.command == "retention":
        from bot.retention import run_retention

        plan = run_retention(dry_run=args.dry_run)
        print("Another retention run is in progress; nothing was done." if plan is None else "\n".join(plan.describe()))
    elif args.command == "export-contact":
        _export_contact(args.phone, args.out)
    elif args.command == "erase-contact":
        _erase_contact(args.phone, args.reason, args.yes)
    elif args.command == "export-reviewed":
        _export_reviewed(args.out)


def _export_contact(phone: str, out: Path) -> None:
    import json
    import os
    from datetime import date

    from bot.models import AuditEntry
    from bot.retention import export_contact
    from webhook.staff.privacy import export_html

    with session_scope() as session:
        contact = _contact(session, phone)
        data = export_contact(session, contact)
        session.add(AuditEntry(action="subject_access_export", target=f"contact {contact.id} (command line)"))
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"harbour-contact-{data['contact']['id']}-{date.today():%Y%m%d}"
    for path, text in ((stem.with_suffix(".json"), json.dumps(data, indent=2, ensure_ascii=False)),
                       (stem.with_suffix(".html"), export_html(data))):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: the owner only
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"Wrote {path}")


def _export_reviewed(out: Path | None) -> None:
    from bot.learning import REVIEWED_DIR, export_reviewed
    from bot.models import AuditEntry

    with session_scope() as session:
        result = export_reviewed(session, out or REVIEWED_DIR)
        if result.path is not None or result.duplicates:
            session.add(AuditEntry(action="learning_export", target=f"{result.count} example(s) (command line)"))
    if result.path is None:
        print(f"Nothing new to export ({result.duplicates} already in the training or held-out data)."
              if result.duplicates else "Nothing new to export.")
        return
    print(f"Wrote {result.count} example(s) to {result.path} ({result.duplicates} already known, left out). "
          "Run `make train` to use them.")


def _erase_contact(phone: str, reason: str, confirmed: bool) -> None:
    from bot.retention import ErasureRefused, erase_contact, erasure_counts

    with session_scope() as session:
        contact = _contact(session, phone)
        if not confirmed:
            print(f"This erases {contact.name} (contact {contact.id}) and deletes "
                  f"{erasure_counts(session, contact).describe()}. It cannot be undone.")
            if input("Type ERASE to go ahead: ").strip() != "ERASE":
                sys.exit("Nothing was erased.")
        try:
            counts = erase_contact(session, contact, f"{reason} (command line)")
        except ErasureRefused as refusal:
            sys.exit(f"Not erased. {refusal}")
    print(f"Erased contact {contact.id}: deleted {counts.describe()}.")


if __name__ == "__main__":
    main()
