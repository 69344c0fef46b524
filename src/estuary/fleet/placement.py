"""Cost-aware camera placement, engine-free: which partition of the cameras topic a camera goes
to, and which cameras to move so that every worker runs about the same total cost.

The consumer group spreads *partitions* over workers (±1 partition each) and knows nothing of
cameras. So placement chooses the partition: with the workers' current partitions known (from
their heartbeats), a new camera goes to a partition of the worker with the least total cost
(:func:`choose`). Adding to the least-loaded worker keeps the spread (max − min total cost per
worker) at most the largest single camera cost, which is the bound; without declared costs every
camera costs 1 and the bound is ±1 camera. A membership change (a worker dies or joins) moves
partitions blind to cost, and removals can open the spread too: :func:`plan` lists the fewest
moves it finds that bring the spread back within the bound. With no worker running, a new camera
goes to the partition holding the fewest cameras (then the least cost, then the lowest index).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Layout:
    """Where things are: ``partitions`` of the cameras topic, ``cameras`` as {camera id:
    (partition, cost)} and ``owner`` as {partition: worker} (partitions of no worker heard from
    are left out; empty when no worker runs)."""

    partitions: int
    cameras: dict[str, tuple[int, float]] = field(default_factory=dict)
    owner: dict[int, str] = field(default_factory=dict)

    def per_partition(self) -> list[tuple[int, float]]:
        """(cameras, total cost) of each partition."""
        out = [[0, 0.0] for _ in range(self.partitions)]
        for part, cost in self.cameras.values():
            out[part][0] += 1
            out[part][1] += cost
        return [(n, c) for n, c in out]

    def per_worker(self) -> dict[str, tuple[float, int]]:
        """{worker: (total cost, cameras)} for every worker holding a partition."""
        out = {w: [0.0, 0] for w in self.owner.values()}
        for part, cost in self.cameras.values():
            w = self.owner.get(part)
            if w is not None:
                out[w][0] += cost
                out[w][1] += 1
        return {w: (c, n) for w, (c, n) in out.items()}

    def spread(self) -> float:
        """Max − min total cost over the workers holding partitions (0 with fewer than two)."""
        costs = [c for c, _ in self.per_worker().values()]
        return max(costs) - min(costs) if len(costs) > 1 else 0.0

    def bound(self) -> float:
        """The spread placement keeps to: the largest single camera cost."""
        return max((c for _, c in self.cameras.values()), default=0.0)


def _emptiest(layout: Layout, parts) -> int:
    pp = layout.per_partition()
    return min(parts, key=lambda p: (pp[p][0], pp[p][1], p))


def choose(layout: Layout, cost: float = 1.0) -> int:
    """The partition for a new camera of ``cost`` (see the module docstring). ``layout`` is not
    changed; :func:`place` also records the camera."""
    if layout.partitions < 1:
        raise ValueError("the cameras topic has no partitions")
    owned = {p: w for p, w in layout.owner.items() if 0 <= p < layout.partitions}
    if not owned:
        return _emptiest(layout, range(layout.partitions))
    load = layout.per_worker()
    # the least total cost, then the fewest cameras, then the name: deterministic
    target = min(load, key=lambda w: (load[w][0], load[w][1], w))
    return _emptiest(layout, [p for p, w in owned.items() if w == target])


def place(layout: Layout, cam_id: str, cost: float = 1.0) -> int:
    """Choose a partition for a new camera and record it in ``layout``."""
    part = choose(layout, cost)
    layout.cameras[cam_id] = (part, cost)
    return part


@dataclass(frozen=True)
class Move:
    camera: str
    source: int                 # partition it leaves
    target: int                 # partition it goes to
    worker_from: str
    worker_to: str


def plan(layout: Layout, bound: float | None = None) -> list[Move]:
    """Moves that bring the spread of total cost per worker within ``bound`` (default: the largest
    single camera cost), applied to ``layout`` as they are planned.

    Each step moves one camera from the costliest worker to the cheapest: the camera whose cost is
    closest to half their difference. While the spread exceeds the bound every camera costs less
    than the difference, so each move strictly lowers the sum of squared worker costs: the loop
    ends, and it ends only within the bound."""
    bound = layout.bound() if bound is None else bound
    moves: list[Move] = []
    while True:
        load = layout.per_worker()
        if len(load) < 2:
            return moves
        hi = max(load, key=lambda w: (load[w][0], w))
        lo = min(load, key=lambda w: (load[w][0], load[w][1], w))
        diff = load[hi][0] - load[lo][0]
        if diff <= bound + 1e-9:
            return moves
        mine = [(cid, part, cost) for cid, (part, cost) in layout.cameras.items()
                if layout.owner.get(part) == hi and cost < diff - 1e-9]
        if not mine:  # only with an explicit bound below the largest cost: nothing helps
            return moves
        cid, src, cost = min(mine, key=lambda m: (abs(diff / 2 - m[2]), m[0]))
        dst = _emptiest(layout, [p for p, w in layout.owner.items() if w == lo])
        layout.cameras[cid] = (dst, cost)
        moves.append(Move(cid, src, dst, hi, lo))
