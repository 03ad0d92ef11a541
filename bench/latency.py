"""Latency and throughput of signed SMS through the Flask app, next to the same conversations sent
straight to Rasa's channel in the same run, and to a minimal Rasa bot; and each process's peak memory.

    .venv/bin/python bench/latency.py [--levels 1 10 50] [--rasa-replicas N] [--no-minimal-bot]

Absolute times differ between machines by 2x and more, so Harbour's Rasa is also compared with
the bot `rasa init` creates (trained once into a temporary folder, DIET and all), under the
same load in the same run: the ratio of the two p95s is the figure to compare across machines.

Starts its own stack (own ports and instance directory, on 127.0.0.1 only). Each conversation is
a realistic sequence: a greeting, two leaflet questions, a status look-up, which asks for the PIN,
and the PIN, which answers the look-up. With several Rasa replicas, set the shared stores as for
`RASA_REPLICAS=2 make run` (README, "Running on several machines"), on empty databases; the
conversations sent straight to Rasa go to the replica the Flask app would choose.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

PIN = "1357"
CONVERSATION = ["hello", "what is a review", "how long does a review take", "where is our review up to", PIN]
FIRST_NUMBER = 900500  # Ofcom's drama range, 07700 900000-900999


def bench_seed(path: Path, count: int) -> list[str]:
    phones = [f"+447700{FIRST_NUMBER + n}" for n in range(count)]
    seed = {"reviews": [{
        "reference": "BENCH-0001", "child_alias": "Child B", "decision_date": "2026-06-01", "stage": "gathering_information",
        "contacts": [{"name": f"Bench {n}", "relationship": "parent", "phone": phone, "pin": PIN}
                     for n, phone in enumerate(phones)],
    }]}
    path.write_text(yaml.safe_dump(seed))
    return phones


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_level(send, phones: list[str]) -> tuple[list[float], float, int]:
    """Runs one conversation per phone, all at once; returns latencies (s), wall time (s) and errors."""
    def converse(phone):
        timings, errors = [], 0
        for text in CONVERSATION:
            started = time.perf_counter()
            try:
                ok = send(phone, text)
            except requests.RequestException:
                ok = False
            timings.append(time.perf_counter() - started)
            errors += not ok
        return timings, errors

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(phones)) as pool:
        results = list(pool.map(converse, phones))
    wall = time.perf_counter() - started
    return [t for timings, _ in results for t in timings], wall, sum(errors for _, errors in results)


def start_minimal_bot(folder: Path, port: int) -> subprocess.Popen:
    """The bot `rasa init` creates, trained once, served on loopback with its REST channel."""
    from bot.stack import VENV_BIN

    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run([str(VENV_BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(folder)], cwd=folder, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([str(VENV_BIN / "rasa"), "run", "--model", "models", "--interface", "127.0.0.1",
                               "--port", str(port)], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                return server
        except requests.RequestException:
            time.sleep(1)
    server.kill()
    raise RuntimeError("the minimal Rasa bot did not start")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--rasa-replicas", type=int, default=1)
    parser.add_argument("--no-minimal-bot", action="store_true", help="skip the comparison with `rasa init`'s bot")
    args = parser.parse_args()

    from bot.stack import Ports, free_port, require_shared_lock_store

    require_shared_lock_store(args.rasa_replicas)

    instance = Path(tempfile.mkdtemp(prefix="harbour-bench-"))
    ports = Ports(rasa=free_port(consecutive=args.rasa_replicas), actions=free_port(), web=free_port(),
                  rasa_replicas=args.rasa_replicas)
    os.environ.update(HARBOUR_INSTANCE_DIR=str(instance), PORT=str(ports.web),
                      RASA_URL=",".join(f"http://127.0.0.1:{port}" for port in ports.rasa_ports),
                      PUBLIC_URL=f"http://127.0.0.1:{ports.web}",
                      ACTION_SERVER_URL=f"http://127.0.0.1:{ports.actions}/webhook")
    from bot.db import session_scope
    from bot.schema import prepare
    from bot.seed import load_seed
    from bot.stack import Stack, ensure_model
    from bot.action_server import INTERNAL_TOKEN_HEADER
    from bot.settings import get_settings
    from webhook.rasa_client import replicas_for
    from webhook.simulate import post_sms, reply_text

    prepare()
    phones = bench_seed(instance / "bench_seed.yml", 2 + 2 * sum(args.levels))
    with session_scope() as session:
        load_seed(session, instance / "bench_seed.yml")
    minimal = None
    if not args.no_minimal_bot:
        minimal_port = free_port()
        (instance / "minimal").mkdir()
        minimal = start_minimal_bot(instance / "minimal", minimal_port)
    stack = Stack(ports, instance, log_dir=instance)
    stack.start(ensure_model())
    try:
        stack.wait_until_ready()

        def via_minimal(phone, text):
            reply = requests.post(f"http://127.0.0.1:{minimal_port}/webhooks/rest/webhook",
                                  json={"sender": phone, "message": text}, timeout=30)
            return reply.ok and bool(reply.json())

        def via_rasa(phone, text):
            reply = requests.post(f"{replicas_for(phone)[0]}/webhooks/sms/webhook",
                                  json={"sender": phone, "message": text}, timeout=30,
                                  headers={INTERNAL_TOKEN_HEADER: get_settings().internal_token})
            return reply.ok and bool(reply.json())

        def via_flask(phone, text):
            reply = post_sms(phone, text, url=f"http://127.0.0.1:{ports.web}/sms")
            return reply.ok and bool(reply_text(reply.text))

        print(f"{'concurrent':>10} {'path':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'msg/s':>7} {'errors':>6}")
        # The first messages after start-up pay TensorFlow's one-off tracing: keep them out of the figures.
        run_level(via_rasa, phones[:1])
        run_level(via_flask, phones[1:2])
        paths = (("rasa", via_rasa), ("flask", via_flask))
        if minimal:
            run_level(via_minimal, phones[:1])
            paths += (("init", via_minimal),)
        offset = 2
        for level in args.levels:
            p95 = {}
            for name, send in paths:
                # Harbour's conversations need phones of their own; the minimal bot keeps no state of ours.
                batch = phones[offset - level:offset] if name == "init" else phones[offset:offset + level]
                offset += 0 if name == "init" else level
                cpu_before = {process: cpu_seconds(p.pid) for process, p in stack.processes.items()}
                latencies, wall, errors = run_level(send, batch)
                p95[name] = percentile(latencies, 0.95)
                # Where the time went: on two cores, CPU per message is what load turns into waiting.
                cpu = ", ".join(f"{process} {(cpu_seconds(p.pid) - cpu_before[process]) * 1000 / len(latencies):.0f}"
                                for process, p in stack.processes.items()) if name != "init" else ""
                print(f"{level:>10} {name:>6} {statistics.median(latencies) * 1000:8.0f} {p95[name] * 1000:8.0f} "
                      f"{percentile(latencies, 0.99) * 1000:8.0f} {len(latencies) / wall:7.1f} {errors:>6}"
                      + (f"   CPU ms per message: {cpu}" if cpu else ""))
            print(f"{'':>10} flask p95 / rasa p95 = {p95['flask'] / p95['rasa']:.2f}")
            if "init" in p95:
                print(f"{'':>10} rasa p95 / minimal bot p95 = {p95['rasa'] / p95['init']:.2f}")
        print("\npeak memory (VmHWM):")
        for name, process in stack.processes.items():
            print(f"  {name:14} {peak_memory_mb(process.pid):7.0f} MB")
    finally:
        stack.stop()
        if minimal:
            minimal.terminate()
            minimal.wait(timeout=30)


if __name__ == "__main__":
    main()
