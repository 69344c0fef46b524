"""Fleet at scale on one machine: 1,000 cameras over 50 dry workers on a local Kafka (Tansu).

Each worker is a real :class:`estuary.fleet.worker.Worker` (its own Kafka consumer in the group,
the same assignment, hand-over and camera lifecycle code) in ``dry`` mode: a camera is a stand-in
that counts frames, nothing is decoded. To fit a 2-core machine, several workers share one
process (``--per-process``, threads); killing a process kills its workers at once (SIGKILL, no
goodbye), which is how "10 workers killed" is made.

Measured from the workers' journals (one JSON line per camera start/stop, wall clock):

* full assignment: from starting the workers to every camera running exactly once;
* failover: from the SIGKILL to the last of the dead workers' cameras running elsewhere;
* join: from starting new workers to the balance settling, and the hand-over gap of moved cameras;
* balance: cameras per live worker (max/min) once settled;
* double-processing: any moment a camera ran on two workers (intervals overlapping), must be 0.

    python bench/fleet_sim.py                       # starts Tansu itself
    python bench/fleet_sim.py --cameras 200 --workers 10 --kill 2 --join 2 --per-process 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- child: several dry workers in one process ----------------------------------------------------
def child(args) -> int:
    from estuary.fleet.worker import Worker
    workers = [Worker(args.bootstrap, wid, capacity=args.capacity, dry=True,
                      session_timeout_ms=args.session_timeout_ms, heartbeat_ms=args.heartbeat_ms,
                      status_every=args.status_every, journal=os.path.join(args.dir, f"{wid}.journal"))
               for wid in args.ids.split(",")]
    threads = [threading.Thread(target=w.run, name=w.id) for w in workers]
    for t in threads:
        t.start()

    def stop(*_):
        for w in workers:
            w.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for t in threads:
        t.join()
    return 0


# -- parent ---------------------------------------------------------------------------------------
class Journals:
    """Reads the workers' journals incrementally: camera intervals per worker."""

    def __init__(self, d):
        self.d, self.pos, self.events, self.group = d, {}, [], []

    def poll(self):
        for name in os.listdir(self.d):
            if not name.endswith(".journal"):
                continue
            path = os.path.join(self.d, name)
            with open(path) as f:
                f.seek(self.pos.get(name, 0))
                data = f.read()
            end = data.rfind("\n") + 1
            self.pos[name] = self.pos.get(name, 0) + len(data[:end].encode())
            for line in data[:end].splitlines():
                if line:
                    e = json.loads(line)
                    # camera start/stop, or the group's assign/revoke (with the partitions)
                    (self.events if "cam" in e else self.group).append(e)

    def running(self, dead: dict[str, float], now: float | None = None) -> dict[str, set]:
        """camera → workers running it (a dead worker runs nothing after its death)."""
        on: dict[tuple, bool] = {}
        for e in sorted(self.events, key=lambda e: e["t"]):
            on[(e["cam"], e["w"])] = e["ev"] == "start"
        out: dict[str, set] = {}
        for (cam, w), is_on in on.items():
            if is_on and w not in dead:
                out.setdefault(cam, set()).add(w)
        return out

    def doubles(self, dead: dict[str, float], end: float) -> list:
        """(camera, worker a, worker b, overlap seconds) for intervals on two workers at once."""
        intervals: dict[str, list] = {}
        open_: dict[tuple, float] = {}
        for e in sorted(self.events, key=lambda e: e["t"]):
            k = (e["cam"], e["w"])
            if e["ev"] == "start":
                open_[k] = e["t"]
            elif k in open_:
                intervals.setdefault(e["cam"], []).append((open_.pop(k), e["t"], e["w"]))
        for (cam, w), t0 in open_.items():
            intervals.setdefault(cam, []).append((t0, dead.get(w, end), w))
        out = []
        for cam, ivs in intervals.items():
            ivs.sort()
            for i, (a0, a1, aw) in enumerate(ivs):
                for b0, b1, bw in ivs[i + 1:]:
                    if b0 >= a1:
                        break
                    if bw != aw:
                        out.append((cam, aw, bw, round(min(a1, b1) - b0, 3)))
        return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--kill", type=int, default=10, help="workers SIGKILLed at once")
    ap.add_argument("--join", type=int, default=10, help="workers added at once")
    ap.add_argument("--per-process", type=int, default=5, help="dry workers per OS process")
    ap.add_argument("--partitions", type=int, default=None, help="cameras topic partitions (default: --cameras)")
    ap.add_argument("--session-timeout-ms", type=int, default=2000)
    ap.add_argument("--heartbeat-ms", type=int, default=300)
    ap.add_argument("--status-every", type=float, default=2.0)
    ap.add_argument("--settle", type=float, default=60.0, help="longest wait for each phase, seconds")
    ap.add_argument("--bootstrap", default=None, help="use this Kafka instead of starting Tansu")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    # child mode
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ids", default="", help=argparse.SUPPRESS)
    ap.add_argument("--dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--capacity", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    if args.kill % args.per_process or args.join % args.per_process or args.workers % args.per_process:
        ap.error("--workers, --kill and --join must be multiples of --per-process")
    sys.path.insert(0, ROOT)
    if args.bootstrap:
        return run(args, args.bootstrap)
    from tests.servers import kafka
    with kafka() as k:
        return run(args, f"127.0.0.1:{k.port}")


def run(args, bootstrap) -> int:
    from estuary.fleet import admin
    from estuary.fleet.topics import Camera, ensure_topics
    d = tempfile.mkdtemp(prefix="fleet-sim-")
    parts = ensure_topics(bootstrap, partitions=args.partitions or args.cameras)
    t = time.time()
    admin.add_many(bootstrap, [Camera(f"cam{i:04d}", f"rtsp://10.0.{i // 250}.{i % 250}/stream") for i in range(args.cameras)])
    print(f"{args.cameras} cameras on {parts} partitions added in {time.time() - t:.1f} s; journals in {d}")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs: dict[int, tuple[subprocess.Popen, list[str]]] = {}
    n_proc = 0

    def spawn(n_workers):
        nonlocal n_proc
        for _ in range(n_workers // args.per_process):
            ids = [f"w{n_proc * args.per_process + i:03d}" for i in range(args.per_process)]
            log = open(os.path.join(d, f"p{n_proc:02d}.log"), "wb")
            procs[n_proc] = (subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--child", "--bootstrap", bootstrap, "--ids", ",".join(ids),
                 "--dir", d, "--session-timeout-ms", str(args.session_timeout_ms),
                 "--heartbeat-ms", str(args.heartbeat_ms), "--status-every", str(args.status_every)],
                stdout=log, stderr=subprocess.STDOUT, env=env), ids)
            n_proc += 1

    j = Journals(d)
    dead: dict[str, float] = {}
    cams = {f"cam{i:04d}" for i in range(args.cameras)}
    out: dict = {"cameras": args.cameras, "workers": args.workers, "partitions": parts,
                 "per_process": args.per_process, "session_timeout_ms": args.session_timeout_ms,
                 "heartbeat_ms": args.heartbeat_ms}

    def live_workers():
        return [w for _, (p, ids) in procs.items() for w in ids if w not in dead]

    def wait(cond, what):
        deadline = time.time() + args.settle
        while time.time() < deadline:
            j.poll()
            r = j.running(dead)
            if cond(r):
                return r
            time.sleep(0.2)
        j.poll()
        r = j.running(dead)
        missing = len(cams - set(r))
        raise SystemExit(f"{what}: not reached in {args.settle} s ({missing} cameras not running)")

    def all_once(r):
        return set(r) == cams and all(len(v) == 1 for v in r.values())

    def balanced(r):
        per = {w: 0 for w in live_workers()}
        for v in r.values():
            for w in v:
                per[w] = per.get(w, 0) + 1
        return all_once(r) and max(per.values()) - min(per.values()) <= 1

    def balance(r):
        per = {w: 0 for w in live_workers()}
        for v in r.values():
            for w in v:
                per[w] += 1
        return {"min": min(per.values()), "max": max(per.values())}

    try:
        # 1. full assignment
        t0 = time.time()
        spawn(args.workers)
        r = wait(all_once, "full assignment")
        last = max(e["t"] for e in j.events if e["ev"] == "start")
        out["full_assignment_s"] = round(last - t0, 2)
        r = wait(balanced, "balance after start")
        out["balance_start"] = balance(r)
        print(f"full assignment: {out['full_assignment_s']} s; balance {out['balance_start']}")
        time.sleep(3)

        # 2. kill workers at once
        victims = [k for k in list(procs)[:args.kill // args.per_process]]
        before = j.running(dead)
        t_kill = time.time()
        for k in victims:
            procs[k][0].send_signal(signal.SIGKILL)
        for k in victims:
            procs[k][0].wait()
            for w in procs[k][1]:
                dead[w] = t_kill
        orphans = {c for c, ws in before.items() if ws & set(dead)}
        r = wait(all_once, "failover")
        j.poll()
        starts = {e["cam"]: e["t"] for e in j.events if e["ev"] == "start" and e["t"] > t_kill and e["cam"] in orphans}
        gaps = sorted(s - t_kill for s in starts.values())
        out["failover"] = {"cameras": len(orphans), "max_s": round(gaps[-1], 2), "median_s": round(gaps[len(gaps) // 2], 2),
                           "others_restarted": sum(1 for e in j.events if e["ev"] == "start" and e["t"] > t_kill
                                                   and e["cam"] not in orphans)}
        # where the time goes: kill → the survivors' assignment callbacks (detection + rebalance),
        # watermark queries inside them, then reading the partitions to their end → cameras start
        asg = [e for e in j.group if e["ev"] == "assign" and e["t0"] > t_kill]
        if asg:
            out["failover"]["phases"] = {
                "assigned_first_s": round(min(e["t0"] for e in asg) - t_kill, 2),
                "assigned_last_s": round(max(e["t0"] for e in asg) - t_kill, 2),
                "watermarks_max_s": round(max(e["t"] - e["t0"] for e in asg), 2),
                "assign_rounds": len(asg)}
        r = wait(balanced, "balance after the kill")
        out["balance_after_kill"] = balance(r)
        print(f"failover of {len(orphans)} cameras: max {out['failover']['max_s']} s, median "
              f"{out['failover']['median_s']} s; balance {out['balance_after_kill']}; "
              f"phases {out['failover'].get('phases')}")
        time.sleep(3)

        # 3. join workers at once
        n_before = len(j.events)
        t_join = time.time()
        spawn(args.join)
        r = wait(balanced, "balance after the join")
        j.poll()
        new = j.events[n_before:]
        moved = {}
        for e in sorted(new, key=lambda e: e["t"]):
            moved.setdefault(e["cam"], {}).setdefault(e["ev"], e["t"])
        handover = sorted(v["start"] - v["stop"] for v in moved.values() if "start" in v and "stop" in v)
        out["join"] = {"settled_s": round(max(e["t"] for e in new) - t_join, 2), "cameras_moved": len(handover),
                       "handover_gap_max_s": round(handover[-1], 3) if handover else None,
                       "handover_gap_median_s": round(handover[len(handover) // 2], 3) if handover else None}
        out["balance_after_join"] = balance(r)
        print(f"join of {args.join}: settled in {out['join']['settled_s']} s, {len(handover)} cameras moved "
              f"(hand-over gap max {out['join']['handover_gap_max_s']} s); balance {out['balance_after_join']}")
        time.sleep(2)
    finally:
        for p, _ in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        j.poll()
        end = time.time()
        d2 = j.doubles(dead, end)
        out["doubles"] = len(d2)
        out["double_examples"] = d2[:5]
        print(f"double-processing: {len(d2)} overlaps" + (f", e.g. {d2[:3]}" if d2 else ""))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
        print(json.dumps(out))
    return 0 if out.get("doubles") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
