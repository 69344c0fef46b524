"""OrderedPool (estuary/infer/ordered.py): nvinfer's CPU workers, engine-free — in-order
delivery, the in-flight bound, errors, flushes, and that a delivered item is let go."""

from __future__ import annotations

import gc
import random
import threading
import time
import weakref

import pytest

from estuary.infer.ordered import OrderedPool


class Recorder:
    """run sleeps a random while; deliver records the order and the largest in-flight count."""

    def __init__(self, seed: int = 0, deliver_sleep: float = 0.0):
        self.rng = random.Random(seed)
        self.out: list = []
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.deliver_sleep = deliver_sleep

    def run(self, arg):
        time.sleep(arg)

    def deliver(self, item):
        if self.deliver_sleep:
            time.sleep(self.deliver_sleep)
        with self.lock:
            self.out.append(item.n if hasattr(item, "n") else item)


class Item:
    def __init__(self, n: int):
        self.n = n


@pytest.mark.parametrize("workers,limit", [(1, 1), (2, 2), (3, 3), (2, 4)])
def test_items_come_out_in_order_within_the_bound(workers, limit):
    rec = Recorder(seed=workers * 10 + limit)
    in_flight = []
    pool = OrderedPool(rec.run, rec.deliver, workers=workers, limit=limit)
    try:
        for i in range(40):
            pool.submit(i, rec.rng.uniform(0, 0.004), work=i % 7 != 3)  # some pass through unworked
            in_flight.append(pool.in_flight)
        pool.drain()
    finally:
        pool.close()
    assert rec.out == list(range(40))
    assert max(in_flight) <= limit
    assert max(in_flight) >= min(limit, 2)  # (work overlapped at all)


def test_a_done_item_leaves_without_another_submit():
    """The no-stall property nvinfer needs: with frames in flight bounded upstream, no next
    batch may come until this one is out."""
    got = threading.Event()
    pool = OrderedPool(lambda a: None, lambda item: got.set(), workers=2)
    try:
        pool.submit("only")
        assert got.wait(5), "the item was held back until another submit"
    finally:
        pool.close()


def test_a_delivered_item_is_not_kept():
    pool = OrderedPool(lambda a: None, lambda item: None, workers=2)
    try:
        it = Item(1)
        ref = weakref.ref(it)
        pool.submit(it)
        del it
        pool.drain()
        for _ in range(50):  # the worker lets go right after delivering
            gc.collect()
            if ref() is None:
                break
            time.sleep(0.01)
        assert ref() is None, "the pool keeps a delivered item alive (a frame in flight never freed)"
    finally:
        pool.close()


def test_drain_waits_for_the_last_delivery_to_end():
    rec = Recorder(deliver_sleep=0.05)
    pool = OrderedPool(rec.run, rec.deliver, workers=2)
    try:
        for i in range(3):
            pool.submit(i, 0.0)
        pool.drain()
        assert rec.out == [0, 1, 2]
    finally:
        pool.close()


def test_a_failed_run_is_raised_once_and_stops_delivery():
    out = []

    def run(arg):
        if arg == "boom":
            raise ValueError("bad batch")
        time.sleep(0.002)

    pool = OrderedPool(run, out.append, workers=2)
    try:
        pool.submit(0, "ok")
        pool.submit(1, "boom")
        with pytest.raises(ValueError, match="bad batch"):
            for i in range(2, 50):
                pool.submit(i, "ok")
            pool.drain()
        assert pool.failed
        pool.drain()  # raised once: the streaming thread posts one ERROR
        assert out == [0], "items after the failed one must not be delivered"
        pool.discard()  # a flush forgets it
        assert not pool.failed
        pool.submit(99, "ok")
        pool.drain()
        assert out == [0, 99]
    finally:
        pool.close()


def test_a_failed_delivery_is_reported_and_delivery_goes_on():
    errors, out = [], []

    def deliver(item):
        if item == 1:
            raise RuntimeError("push failed")
        out.append(item)

    pool = OrderedPool(lambda a: None, deliver, workers=2, on_error=errors.append)
    try:
        for i in range(4):
            pool.submit(i)
        pool.drain()
    finally:
        pool.close()
    assert out == [0, 2, 3]
    assert [str(e) for e in errors] == ["push failed"]


def test_discard_finishes_the_work_and_delivers_nothing():
    rec = Recorder()
    started = threading.Event()

    def run(arg):
        started.set()
        time.sleep(0.05)

    pool = OrderedPool(run, rec.deliver, workers=2)
    try:
        pool.submit(0)
        pool.submit(1)
        started.wait(5)
        pool.discard()
        assert pool.in_flight == 0
        assert 1 not in rec.out  # (0 may have been delivered before the flush, 1 was not done)
        pool.submit(2)
        pool.drain()
        assert rec.out[-1] == 2
    finally:
        pool.close()


def test_close_finishes_what_was_queued():
    rec = Recorder()
    pool = OrderedPool(rec.run, rec.deliver, workers=2, limit=2)
    pool.submit(0, 0.01)
    pool.submit(1, 0.0)
    pool.close()
    assert rec.out == [0, 1]


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        OrderedPool(lambda a: None, lambda i: None, workers=0)
