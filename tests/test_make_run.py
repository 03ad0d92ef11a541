"""`make run` as a service manager would start it: no terminal, one process group, stopped as one."""
import contextlib
import os
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from bot.settings import REPO_ROOT
from bot.stack import ensure_model, free_port

READY_SECONDS = 300


@pytest.fixture
def make_run():
    ensure_model()  # trained once for the whole run; `make run` must then reuse it
    ports = {"PORT": free_port(), "RASA_PORT": free_port(), "ACTION_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "HARBOUR_INSTANCE_DIR": tempfile.mkdtemp(prefix="harbour-make-run-")}
    for name in ("RASA_URL", "ACTION_SERVER_URL", "PUBLIC_URL"):
        env.pop(name)
    process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO_ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines = []
    deadline = time.monotonic() + READY_SECONDS
    for line in process.stdout:
        lines.append(line)
        if "Harbour is running" in line or time.monotonic() > deadline:
            break
    yield process, ports, lines
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _listening(port: int) -> bool:
    """Whether a process of ours still runs with this port on its command line."""
    return subprocess.run(["pgrep", "-f", f"--port {port}( |$)"], capture_output=True).returncode == 0


def test_make_run_starts_everything_and_a_sigterm_to_the_group_stops_it(make_run):
    process, ports, lines = make_run
    assert any("Harbour is running" in line for line in lines), "".join(lines[-30:])
    assert any("Demo data loaded." in line for line in lines)  # a fresh local instance still starts with the demo
    welcome = lines + [process.stdout.readline() for _ in range(5)]
    assert any(f":{ports['PORT']}/staff" in line for line in welcome)
    assert requests.get(f"http://127.0.0.1:{ports['PORT']}/healthz", timeout=10).status_code == 200

    # The simulator command it prints works as printed, for this copy's port and instance directory.
    command = next(line for line in welcome if "SMS simulator:" in line).split("SMS simulator:")[1].split("(")[0].split()
    settings = dict(word.split("=", 1) for word in command if "=" in word)
    simulated = subprocess.run(command[len(settings):], cwd=REPO_ROOT, input="what is a review\n", text=True,
                               capture_output=True, timeout=120,
                               env={**{k: v for k, v in os.environ.items() if k not in ("PORT", "HARBOUR_INSTANCE_DIR",
                                                                                         "PUBLIC_URL")}, **settings})
    assert "review" in simulated.stdout.lower() and simulated.returncode == 0, simulated.stdout + simulated.stderr

    harbour = int(subprocess.run(["pgrep", "-P", str(process.pid), "-f", "bot.stack run"], capture_output=True,
                                 text=True).stdout.split()[0])
    os.killpg(process.pid, signal.SIGTERM)
    time.sleep(0.3)
    with contextlib.suppress(ProcessLookupError):  # already stopped: nothing left to cut short
        os.kill(harbour, signal.SIGTERM)  # as make passes the signal on, while Harbour is already stopping
    process.wait(timeout=60)
    output = process.stdout.read()
    assert "Stopping Harbour" in output and "Stopped." not in output, output
    assert not any(_listening(port) for port in ports.values())


def test_when_one_process_dies_the_others_stop_with_a_clear_message(make_run):
    process, ports, lines = make_run
    assert any("Harbour is running" in line for line in lines), "".join(lines[-30:])
    subprocess.run(["pkill", "-KILL", "-f", f"bot.action_server --actions actions --port {ports['ACTION_PORT']}( |$)"],
                   check=True)
    assert process.wait(timeout=60) != 0
    rest = process.stdout.read()
    assert "The action server stopped" in rest and "stopping the others" in rest
    assert not any(_listening(port) for port in ports.values())
