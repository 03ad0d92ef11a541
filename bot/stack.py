"""Harbour's three processes as one unit, and the trained model they need.

`python -m bot.stack run` trains when needed, prepares the database and starts the
Rasa server, the action server and the Flask app; if one stops, the others are
stopped too. `python -m bot.stack train` only trains. The tests start the same
stack on their own ports and instance directory.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.settings import REPO_ROOT, _secret

VENV_BIN = Path(sys.executable).parent
MODELS_DIR = Path(os.environ.get("HARBOUR_MODELS_DIR") or REPO_ROOT / "models")
READY_TIMEOUT_SECONDS = 240


# The code and files besides the training data that shape what the intent model learns.
NLU_SOURCES = ("bot/meaning.py", "bot/nlu_classifier.py", "bot/nlu_preambles.yml", "bot/textnorm.py",
               "bot/spellings.yml", "bot/embedding-model.txt")


def files_digest(paths) -> str:
    """A short hash of the files' names (within the repository) and contents: models are named by it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.resolve().relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def nlu_sources_digest() -> str:
    return files_digest(REPO_ROOT / name for name in NLU_SOURCES)


# What Rasa trains on. data/safety teaches the safety classifier alone (bot/safety_model.py): hard
# negatives written around a crisis are everyday talk, and taught to the intent model they pulled
# ordinary questions towards out_of_scope.
RASA_DATA = ("data/nlu", "data/rules", "data/stories")


def model_inputs() -> list[Path]:
    # The NLU code that trains is an input too: a change to how messages are read retrains.
    files = [REPO_ROOT / "config.yml", *(REPO_ROOT / name for name in NLU_SOURCES)]
    for folder in ("bot/domain", *RASA_DATA):
        files += sorted((REPO_ROOT / folder).rglob("*.yml"))
    return files


def model_path() -> Path:
    """The model trained from the current config, domain and data: its name is their hash."""
    return MODELS_DIR / f"harbour-{files_digest(model_inputs())}.tar.gz"


def ensure_model() -> Path:
    """Trains unless a model of exactly this training data exists; safe to call from two runs at once.

    The safety classifier, which both the Rasa server and the web app load, trains while Rasa's
    training starts up (about twenty seconds of imports and data checks); the intent model then
    reuses the sentence vectors the safety classifier computed (bot.embeddings.EmbeddingCache).
    """
    from bot import safety_model

    model = model_path()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with open(MODELS_DIR / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model.exists():
            safety_model.ensure_model()
            return model
        print(f"Training the Rasa model ({model.name}); this takes a minute or two...", flush=True)
        rasa_training = subprocess.Popen(
            [
                str(VENV_BIN / "rasa"), "train",
                "--config", "config.yml", "--domain", "bot/domain", "--data", *RASA_DATA,
                "--out", str(MODELS_DIR), "--fixed-model-name", model.name.removesuffix(".tar.gz"),
            ],
            cwd=REPO_ROOT,
            env=_rasa_env(os.environ.copy()),
        )
        try:
            safety_model.ensure_model()
        except BaseException:
            rasa_training.terminate()
            rasa_training.wait()
            raise
        if rasa_training.wait():
            raise subprocess.CalledProcessError(rasa_training.returncode, rasa_training.args)
    return model


def _rasa_env(env: dict) -> dict:
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


@dataclass(frozen=True)
class Ports:
    rasa: int = 5005  # the first replica; more replicas take the ports after it
    actions: int = 5055
    web: int = 5000
    rasa_replicas: int = 1

    @property
    def rasa_ports(self) -> list[int]:
        return [self.rasa + n for n in range(self.rasa_replicas)]


def service_env(ports: Ports, instance_dir: Path, base: dict | None = None) -> dict:
    """The environment all three processes share; anything already set wins."""
    env = _rasa_env(dict(os.environ if base is None else base))
    env["HARBOUR_INSTANCE_DIR"] = str(instance_dir)
    env.setdefault("RASA_URL", ",".join(f"http://127.0.0.1:{port}" for port in ports.rasa_ports))
    env.setdefault("ACTION_SERVER_URL", f"http://127.0.0.1:{ports.actions}/webhook")
    env.setdefault("TRACKER_STORE_URL", f"sqlite:///{instance_dir / 'rasa_tracker.db'}")
    env.setdefault("LOCK_STORE_TYPE", "in_memory")
    env.setdefault("LOCK_STORE_URL", "127.0.0.1")
    env.setdefault("LOCK_STORE_PORT", "6379")
    env.setdefault("LOCK_STORE_PREFIX", "harbour")
    env.setdefault("SANIC_HOST", "127.0.0.1")  # the action server listens on loopback only
    # The shared secret between the Flask app, Rasa's channels and the action server (endpoints.yml sends it).
    env.setdefault("HARBOUR_INTERNAL_TOKEN", _secret(instance_dir, "HARBOUR_INTERNAL_TOKEN", "internal_token"))
    env.setdefault("PORT", str(ports.web))
    return env


def _rasa_name(ports: Ports, port: int) -> str:
    return "Rasa server" if ports.rasa_replicas == 1 else f"Rasa server on {port}"


def commands(ports: Ports, model: Path, env: dict) -> dict[str, list[str]]:
    rasa = {
        _rasa_name(ports, port): [
            str(VENV_BIN / "rasa"), "run", "--model", str(model),
            "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
            "--interface", "127.0.0.1", "--port", str(port),
        ]
        for port in ports.rasa_ports
    }
    return {
        **rasa,
        # rasa_sdk's server, refusing any call without the internal token (bot/action_server.py).
        "action server": [str(VENV_BIN / "python"), "-m", "bot.action_server", "--actions", "actions",
                          "--port", str(ports.actions)],
        "web app": [
            str(VENV_BIN / "waitress-serve"), "--host", env.get("HOST", "127.0.0.1"), "--port", env["PORT"],
            "--threads", env.get("WEB_THREADS", "16"), "--call", "webhook:create_app",
        ],
    }


def _bind_loopback(port: int) -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
        return probe.getsockname()[1]


def free_port(consecutive: int = 1) -> int:
    """A loopback port nothing listens on now, nor on the `consecutive - 1` after it (for replicas)."""
    while True:
        first = _bind_loopback(0)
        try:
            for port in range(first + 1, first + consecutive):
                _bind_loopback(port)
            return first
        except (OSError, OverflowError):  # taken, or past the last port: try elsewhere
            continue


def require_shared_lock_store(replicas: int) -> None:
    """Several Rasa replicas must take turns on a conversation through one lock store."""
    if replicas > 1 and os.environ.get("LOCK_STORE_TYPE", "in_memory") == "in_memory":
        sys.exit("Several Rasa replicas must share a lock store: set LOCK_STORE_TYPE=redis and LOCK_STORE_URL "
                 "(and TRACKER_STORE_URL to PostgreSQL). See README, 'Running on several machines'.")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class Stack:
    """The three processes, started together and stopped together."""

    def __init__(self, ports: Ports, instance_dir: Path, log_dir: Path | None = None, env: dict | None = None):
        self.ports = ports
        self.instance_dir = instance_dir
        self.log_dir = log_dir
        self.env = service_env(ports, instance_dir, env)
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list[IO] = []

    def start(self, model: Path) -> None:
        self.commands = commands(self.ports, model, self.env)
        for name in self.commands:
            self._launch(name)

    def _launch(self, name: str) -> None:
        output = None
        if self.log_dir:
            output = open(self.log_dir / f"{name.replace(' ', '_')}.log", "ab")
            self._logs.append(output)
        self.processes[name] = subprocess.Popen(
            self.commands[name], cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )

    def kill(self, name: str) -> None:
        """Kills one process outright, as a crash would (for fault tests)."""
        self.processes[name].kill()
        self.processes[name].wait()

    def revive(self, name: str) -> None:
        """Starts a killed process again and waits until everything answers."""
        self._launch(name)
        self.wait_until_ready()

    def health_urls(self) -> dict[str, str]:
        return {
            **{_rasa_name(self.ports, port): f"http://127.0.0.1:{port}/" for port in self.ports.rasa_ports},
            "action server": f"http://127.0.0.1:{self.ports.actions}/health",
            "web app": f"http://127.0.0.1:{self.ports.web}/healthz",
        }

    def stopped(self) -> tuple[str, int] | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name, process.returncode
        return None

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(self.health_urls())
        while waiting:
            if (dead := self.stopped()) is not None:
                raise RuntimeError(f"The {dead[0]} stopped while starting (exit code {dead[1]}).")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Not ready after {timeout:.0f} s: {', '.join(waiting)}.")
            waiting = {name: url for name, url in waiting.items() if not _answers(url)}
            time.sleep(0.5)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()


def simulator_command(ports: Ports, instance_dir: Path) -> str:
    """The simulator for this running copy: it must post to its port and sign with its instance's token."""
    settings = [f"PORT={ports.web}"] if ports.web != Ports.web else []
    if instance_dir.resolve() != (REPO_ROOT / "instance").resolve():
        settings.append(f"HARBOUR_INSTANCE_DIR={instance_dir}")
    return " ".join([*settings, ".venv/bin/python -m webhook.simulate"])


def _welcome(ports: Ports, demo: bool, instance_dir: Path) -> str:
    web = f"http://127.0.0.1:{ports.web}"
    if not demo:
        return (
            "\nHarbour is running. Press Ctrl-C to stop.\n"
            f"  Website chat:   {web}/\n"
            f"  Staff console:  {web}/staff\n"
            f"  Health:         {web}/healthz\n"
        )
    return (
        "\nHarbour is running. Press Ctrl-C to stop.\n"
        f"  Website chat:   {web}/   (demo web access code: MOOR-LARK-7261)\n"
        f"  Staff console:  {web}/staff   (demo.reviewer / demo-only-change-me)\n"
        f"  SMS simulator:  {simulator_command(ports, instance_dir)} +447700900123   (demo PIN 4821)\n"
        f"  Health:         {web}/healthz\n"
    )


def demo_report() -> tuple[bool, str]:
    """Prepares the database and says what happened to the demo data: (demo accounts present, message)."""
    import yaml
    from sqlalchemy import select

    from bot.db import session_scope
    from bot.models import StaffUser
    from bot.schema import prepare
    from bot.seed import demo_refusal, is_local
    from bot.settings import DEMO_SEED_FILE, get_settings

    settings = get_settings()
    loaded = prepare()
    demo_users = [item["username"] for item in yaml.safe_load(DEMO_SEED_FILE.read_text()).get("staff", [])]
    with session_scope() as session:
        present = bool(session.scalars(select(StaffUser.id).where(StaffUser.username.in_(demo_users))).first())
        any_staff = bool(session.scalars(select(StaffUser.id)).first())
    if loaded:
        return True, "Demo data loaded."
    if present and not is_local(settings.public_url):
        return True, (f"WARNING: the demo staff accounts ({', '.join(demo_users)}), whose passwords are "
                      f"published, exist on a public install ({settings.public_url}). Remove them.")
    refusal = demo_refusal(settings)
    if refusal and not any_staff:
        return False, f"Database ready. Demo data not loaded: {refusal}."
    return present, "Database ready."


def run() -> int:
    from bot.settings import get_settings

    model = ensure_model()
    ports = Ports(rasa=int(os.environ.get("RASA_PORT", 5005)), actions=int(os.environ.get("ACTION_PORT", 5055)),
                  web=int(os.environ.get("PORT", 5000)), rasa_replicas=int(os.environ.get("RASA_REPLICAS", 1)))
    require_shared_lock_store(ports.rasa_replicas)
    settings = get_settings()
    os.environ["HARBOUR_INSTANCE_DIR"] = str(settings.instance_dir)
    demo, report = demo_report()
    print(report, flush=True)
    stack = Stack(ports, settings.instance_dir)

    def _stop(signum, _frame):
        # GNU make passes a SIGTERM on to its recipe, so `make run` stopped by a service manager gets
        # the group's signal twice: a second one must not cut the clean stop short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start(model)
        stack.wait_until_ready()
        print(_welcome(ports, demo, settings.instance_dir), flush=True)
        while (dead := stack.stopped()) is None:
            time.sleep(0.5)
        print(f"\nThe {dead[0]} stopped (exit code {dead[1]}); stopping the others.", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopping Harbour...", flush=True)
        return 0
    except RuntimeError as error:
        print(f"\n{error} Stopping the others.", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.stack")
    parser.add_argument("command", choices=("run", "train"))
    args = parser.parse_args()
    try:
        if args.command == "train":
            print(ensure_model())
        else:
            sys.exit(run())
    except KeyboardInterrupt:  # Ctrl-C while training or starting: no traceback, nothing left running
        print("\nStopped.", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
