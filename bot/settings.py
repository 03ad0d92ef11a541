"""Configuration, from environment variables with local defaults.

One place for every setting and threshold: the action server and the Flask app
both call `get_settings()`, and tests read the values from here.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PARTNERSHIP_FILE = Path(__file__).resolve().parent / "partnership.yml"
DEMO_SEED_FILE = Path(__file__).resolve().parent / "demo_seed.yml"


@dataclass(frozen=True)
class Partnership:
    name: str
    email: str
    website: str
    helplines: dict
    office_hours: dict

    def as_slots(self) -> dict:
        """The values Rasa responses fill in as {partnership_name} and so on."""
        return {
            "partnership_name": self.name,
            "partnership_email": self.email,
            "partnership_website": self.website,
        }


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    secret_key: str
    partnership: Partnership
    rasa_urls: tuple[str, ...]  # one per Rasa replica
    action_server_url: str
    public_url: str
    twilio_account_sid: str | None
    twilio_auth_token: str
    twilio_from_number: str | None
    # Twilio gives up on a webhook after 15 s; Rasa must answer well inside that.
    rasa_timeout_seconds: float = 8.0
    verification_hours: int = 24
    pin_max_attempts: int = 3
    pin_lock_minutes: int = 15
    # After this many lock-outs a number is held for staff: no PIN is checked until staff release it (0: never).
    pin_hold_after_locks: int = 3
    sms_answer_max_chars: int = 320
    sms_reply_max_chars: int = 1600
    inbound_max_chars: int = 1600
    # On-call staff phones told (without content) of every urgent escalation.
    oncall_numbers: tuple[str, ...] = ()
    # The first urgent escalation texts on-call at once; further ones within this many minutes are gathered
    # into one summary text when the window ends (0: a text for each).
    oncall_alert_minutes: int = 5
    # While staff have a conversation, one reminder of the helplines after this long without a staff reply.
    reminder_after_minutes: int = 10
    # A family waiting for staff gets an acknowledgement of their message at most this often.
    acknowledge_every_minutes: int = 15
    # An urgent escalation nobody claims within this long alerts on-call again; after twice as long,
    # the fallback numbers (ONCALL_FALLBACK_NUMBERS, else on-call again).
    urgent_ack_minutes: int = 10
    oncall_fallback_numbers: tuple[str, ...] = ()
    # How often the web app looks for urgent escalations to chase (0: never; then cron runs chase-urgent).
    chase_every_seconds: int = 60
    # Twilio confirms an opt-out itself (its default STOP reply, or Advanced Opt-Out's); if not, Harbour does.
    twilio_confirms_opt_out: bool = True
    # The words Twilio itself treats as an opt-out (its defaults, unless Advanced Opt-Out changed them).
    # While CANCEL is one of them, Twilio blocks the number on a lone "cancel", so Harbour cannot treat it
    # as cancelling a form: remove CANCEL in Advanced Opt-Out, and from here, to let it.
    twilio_opt_out_words: tuple[str, ...] = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                                             "OPTOUT")
    # Staff console sessions and sign-in protection.
    staff_idle_minutes: int = 30
    staff_session_hours: int = 12
    staff_lock_after_failures: int = 5
    staff_lock_minutes: int = 5
    # The second factor (TOTP): always for admins; for reviewers "required" or "optional" (HARBOUR_REVIEWER_TOTP).
    reviewer_totp: str = "optional"
    failures_per_address: int = 20  # failed sign-ins (staff or web code) from one address, within:
    failure_window_minutes: int = 15
    # Rasa's SQL tracker store (endpoints.yml), where retention and erasure delete a family's events too.
    tracker_store_url: str = ""
    # Retention: a review's families' conversations go this long after its publication or closure, unlinked
    # conversations (unknown numbers, visitors never signed in) after this many idle days, and audit entries
    # (which hold no message text) after this many months. The web app runs it every so many hours (0: never;
    # then cron runs `python -m bot retention`).
    retention_months_after_close: int = 12
    retention_days_unlinked: int = 90
    audit_retention_months: int = 72
    retention_every_hours: int = 24
    # Security (README, "Security model"). A verified conversation stays verified while the family keeps
    # writing, ending after this long idle; contact details and meeting places need a PIN this recent.
    verification_idle_minutes: int = 30
    web_code_days: int = 30  # how long a new web access code works
    code_key: str = ""  # keys the web access code digests (not the Flask SECRET_KEY)
    # Shared secret between the Flask app and Rasa's channels, and between Rasa and the action server.
    internal_token: str = ""
    trusted_proxies: int = 0  # how many proxies in front of the app set X-Forwarded-For/-Proto/-Host
    demo: str = ""  # HARBOUR_DEMO: "1" loads the demo on a public URL too; "0" never loads it
    # Anonymous chat messages per address (and per conversation) a minute before the bot stops answering
    # (the safety check still runs on every one).
    chat_messages_per_minute: int = 20

    @property
    def twilio_configured(self) -> bool:
        """Real Twilio credentials: outbound messages go through Twilio, not the local outbox."""
        return bool(self.twilio_account_sid and os.environ.get("TWILIO_AUTH_TOKEN") and self.twilio_from_number)

    @property
    def confirms_opt_out_itself(self) -> bool:
        """Whether Harbour answers STOP with its own confirmation (Twilio's would make it a second one)."""
        return not (self.twilio_configured and self.twilio_confirms_opt_out)

    @property
    def cancel_can_end_a_form(self) -> bool:
        """Whether a lone "cancel" may cancel a form instead of opting out: not while Twilio opts the number out on it."""
        return not (self.twilio_configured and "CANCEL" in self.twilio_opt_out_words)


def _instance_dir() -> Path:
    path = Path(os.environ.get("HARBOUR_INSTANCE_DIR") or REPO_ROOT / "instance").resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Databases, secrets and the spool live here: only the account that runs Harbour may look inside.
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def _secret(instance_dir: Path, env_name: str, file_name: str) -> str:
    """A secret from the environment, else one generated once and kept in the instance dir."""
    value = os.environ.get(env_name)
    if value:
        return value
    path = instance_dir / file_name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return value


def load_partnership(path: Path | str | None = None) -> Partnership:
    path = Path(path or os.environ.get("HARBOUR_PARTNERSHIP_FILE") or DEFAULT_PARTNERSHIP_FILE)
    data = yaml.safe_load(path.read_text())
    return Partnership(
        name=data["partnership"]["name"],
        email=data["partnership"]["email"],
        website=data["partnership"]["website"],
        helplines=data["helplines"],
        office_hours=data["office_hours"],
    )


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _reviewer_totp() -> str:
    value = os.environ.get("HARBOUR_REVIEWER_TOTP", "optional").strip().lower() or "optional"
    if value not in ("required", "optional"):
        raise ValueError(f"HARBOUR_REVIEWER_TOTP must be 'required' or 'optional', not {value!r}")
    return value


def load_settings() -> Settings:
    instance_dir = _instance_dir()
    return Settings(
        instance_dir=instance_dir,
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'harbour.db'}",
        secret_key=_secret(instance_dir, "SECRET_KEY", "secret_key"),
        partnership=load_partnership(),
        rasa_urls=tuple(u.strip().rstrip("/") for u in os.environ.get("RASA_URL", "http://127.0.0.1:5005").split(",")
                        if u.strip()),
        action_server_url=os.environ.get("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook"),
        public_url=(os.environ.get("PUBLIC_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}").rstrip("/"),
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        # Without a real token, a random local one: only the local simulator can sign.
        twilio_auth_token=_secret(instance_dir, "TWILIO_AUTH_TOKEN", "local_twilio_token"),
        twilio_from_number=os.environ.get("TWILIO_FROM_NUMBER") or None,
        rasa_timeout_seconds=float(os.environ.get("RASA_TIMEOUT_SECONDS", 8.0)),
        oncall_numbers=tuple(n.strip() for n in os.environ.get("ONCALL_NUMBERS", "").split(",") if n.strip()),
        reminder_after_minutes=_int_env("HARBOUR_REMINDER_AFTER_MINUTES", 10),
        acknowledge_every_minutes=_int_env("HARBOUR_ACKNOWLEDGE_EVERY_MINUTES", 15),
        urgent_ack_minutes=_int_env("HARBOUR_URGENT_ACK_MINUTES", 10),
        oncall_fallback_numbers=tuple(
            n.strip() for n in os.environ.get("ONCALL_FALLBACK_NUMBERS", "").split(",") if n.strip()),
        chase_every_seconds=_int_env("HARBOUR_CHASE_EVERY_SECONDS", 60),
        twilio_confirms_opt_out=os.environ.get("HARBOUR_TWILIO_CONFIRMS_OPT_OUT", "1") not in ("0", "false", "no"),
        twilio_opt_out_words=tuple(w.strip().upper() for w in os.environ.get(
            "HARBOUR_TWILIO_OPT_OUT_WORDS", "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,REVOKE,OPTOUT").split(",") if w.strip()),
        staff_idle_minutes=_int_env("HARBOUR_STAFF_IDLE_MINUTES", 30),
        staff_session_hours=_int_env("HARBOUR_STAFF_SESSION_HOURS", 12),
        verification_hours=_int_env("HARBOUR_VERIFICATION_HOURS", 24),
        pin_max_attempts=_int_env("HARBOUR_PIN_MAX_ATTEMPTS", 3),
        pin_lock_minutes=_int_env("HARBOUR_PIN_LOCK_MINUTES", 15),
        pin_hold_after_locks=_int_env("HARBOUR_PIN_HOLD_AFTER_LOCKS", 3),
        oncall_alert_minutes=_int_env("HARBOUR_ONCALL_ALERT_MINUTES", 5),
        reviewer_totp=_reviewer_totp(),
        tracker_store_url=os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{instance_dir / 'rasa_tracker.db'}",
        retention_months_after_close=_int_env("HARBOUR_RETENTION_MONTHS_AFTER_CLOSE", 12),
        retention_days_unlinked=_int_env("HARBOUR_RETENTION_DAYS_UNLINKED", 90),
        audit_retention_months=_int_env("HARBOUR_AUDIT_RETENTION_MONTHS", 72),
        retention_every_hours=_int_env("HARBOUR_RETENTION_EVERY_HOURS", 24),
        verification_idle_minutes=_int_env("HARBOUR_VERIFICATION_IDLE_MINUTES", 30),
        web_code_days=_int_env("HARBOUR_WEB_CODE_DAYS", 30),
        code_key=_secret(instance_dir, "HARBOUR_CODE_KEY", "code_key"),
        internal_token=_secret(instance_dir, "HARBOUR_INTERNAL_TOKEN", "internal_token"),
        trusted_proxies=_int_env("TRUSTED_PROXIES", 0),
        demo=os.environ.get("HARBOUR_DEMO", ""),
        chat_messages_per_minute=_int_env("HARBOUR_CHAT_MESSAGES_PER_MINUTE", 20),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
