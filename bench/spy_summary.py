"""Sum a py-spy ``--format raw`` profile (collapsed stacks) by function: the share of samples in
which each function is on the stack (inclusive) and on top (self). Usage:
python3 bench/spy_summary.py spy.txt [top]"""

from __future__ import annotations

import collections
import re
import sys


def main(path: str, top: int = 30) -> None:
    incl, own = collections.Counter(), collections.Counter()
    threads: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total = 0
    for line in open(path):
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r" \(/.*?([^/]+/[^/]+\.py):\d+\)", r" (\1)", f) for f in stack.split(";")]
        for f in set(frames[1:]):  # the first entry names the thread
            incl[f] += n
        if len(frames) > 1:
            own[frames[-1]] += n
        # a thread is told by where its Python starts and where it spends (its deepest Estuary frame)
        ours = [f for f in frames[1:] if "estuary/" in f or "(" not in f]
        threads[frames[0]][(frames[1] if len(frames) > 1 else "?", ours[-1] if ours else "?")] += n
    print(f"{total} samples")
    print("inclusive:")
    for f, n in incl.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {f}")
    print("threads (samples, share; where each starts and its top place):")
    for t, c in sorted(threads.items(), key=lambda kv: -sum(kv[1].values()))[:12]:
        k = sum(c.values())
        (start, place), _ = c.most_common(1)[0]
        print(f"  {k:6d} {100 * k / total:5.1f} %  {t}: {start} .. {place}")
    print("self:")
    for f, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
