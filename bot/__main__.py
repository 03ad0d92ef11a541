"""Database commands: `python -m bot <command>`. Run with --help for the list."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import session_scope
from bot.models import Contact, StaffUser
from bot.schema import migrate, prepare
from bot.security import code_digest, hash_pin, hash_secret, new_pin, new_web_code
from bot.seed import load_seed


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
    staff = commands.add_parser("create-staff", help="create a staff user (asks for the password)")
    staff.add_argument("username")
    staff.add_argument("name")
    staff.add_argument("--role", choices=("reviewer", "admin"), default="reviewer")
    pin = commands.add_parser("issue-pin", help="issue a new PIN to a family contact, printed once")
    pin.add_argument("phone", help="the contact's number in E.164, e.g. +447700900123")
    code = commands.add_parser("issue-web-code", help="issue a new web access code, printed once")
    code.add_argument("phone", help="the contact's number in E.164")
    commands.add_parser("chase-urgent", help="alert on-call again about urgent escalations nobody claimed (for cron)")
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
        password = getpass.getpass("Password: ")
        if len(password) < 12:
            sys.exit("Choose a password of at least 12 characters.")
        with session_scope() as session:
            if session.scalar(select(StaffUser).where(StaffUser.username == args.username)):
                sys.exit(f"There is already a staff user called {args.username}.")
            session.add(StaffUser(username=args.username, name=args.name, role=args.role, password_hash=hash_secret(password)))
        print(f"Created {args.role} {args.username}.")
    elif args.command == "issue-pin":
        value = new_pin()
        with session_scope() as session:
            _contact(session, args.phone).pin_hash = hash_pin(value)
        print(f"New PIN (shown once): {value}")
    elif args.command == "issue-web-code":
        value = new_web_code()
        with session_scope() as session:
            _contact(session, args.phone).web_code_digest = code_digest(value)
        print(f"New web access code (shown once): {value}")
    elif args.command == "chase-urgent":
        from webhook.outbound import chase_unclaimed_urgent
        from webhook.spool import replay

        replay()
        print(f"Chased {chase_unclaimed_urgent()} unclaimed urgent escalation(s).")


if __name__ == "__main__":
    main()
