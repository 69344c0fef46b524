"""The adaptive OpenVINO backend's choice of request (issue #23): one request on every core while
frames come no faster than they are inferred (latency), each worker's own one-core request under a
backlog (throughput). The policy is engine-free (estuary.infer.backends.RequestChooser); the
backend itself is tested in test_openvino.py."""

import threading
import time

import pytest

from estuary.infer.backends import RequestChooser


def infer(chooser: RequestChooser, seconds: float, log: list) -> None:
    one = chooser.enter()
    with lock:
        state["running"] += 1
        state["peak_one"] = max(state["peak_one"], state["running"]) if one else state["peak_one"]
        log.append(one)
    t0 = time.perf_counter()
    time.sleep(seconds)
    with lock:
        state["running"] -= 1
    chooser.leave(one, time.perf_counter() - t0)


lock = threading.Lock()
state = {}


@pytest.fixture(autouse=True)
def _state():
    state.update(running=0, peak_one=0)


def test_frames_that_come_one_at_a_time_take_the_request_on_every_core():
    c, log = RequestChooser(), []
    for _ in range(10):
        infer(c, 0.001, log)
    assert log == [True] * 10


def backlog(c: RequestChooser, workers: int, per_worker: int, seconds: float, log: list) -> None:
    """``workers`` threads each inferring ``per_worker`` frames back to back (an unpaced file)."""
    ts = [threading.Thread(target=lambda: [infer(c, seconds, log) for _ in range(per_worker)])
          for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)


def test_a_backlog_moves_to_every_worker_on_its_own_request_after_a_few_frames():
    c, log = RequestChooser(backlog=3), []
    backlog(c, 2, 20, 0.005, log)
    assert len(log) == 40
    # one-stream inferences never overlap, and the backlog is seen after 3 of them end with a waiter
    assert state["peak_one"] == 1
    assert False in log, log
    first_own = log.index(False)
    assert first_own >= 3, log  # (a loaded machine may start the second worker late: no upper bound)
    assert log[first_own:].count(True) <= 2, log  # and it stays (no flapping while both are busy)


def test_after_the_backlog_frames_that_one_request_keeps_up_with_go_back_to_every_core():
    c, log = RequestChooser(backlog=3), []
    backlog(c, 2, 10, 0.005, log)
    assert False in log  # the backlog was seen
    log.clear()
    for _ in range(12):  # then frames 15 ms apart, each inferred in 5: one request keeps up
        infer(c, 0.005, log)
        time.sleep(0.010)
    assert log[-3:] == [True] * 3, log
    assert c.latency


def test_a_frame_that_waits_now_and_then_does_not_end_latency_mode():
    """A paced source whose frames overlap once in a while (jitter): each overlap waits for the
    running one-stream request instead of taking a one-core request."""
    c, log = RequestChooser(backlog=3), []
    for _ in range(5):
        t = threading.Thread(target=infer, args=(c, 0.02, log))
        t.start()
        time.sleep(0.005)
        infer(c, 0.005, log)  # comes while the first runs: waits, then one-stream
        t.join()
        infer(c, 0.001, log)  # alone
    assert all(log) and len(log) == 15, log
    assert state["peak_one"] == 1


def drive(c: RequestChooser, clock: list, apart: float, took: float, frames: int) -> list:
    """``frames`` frames ``apart`` s apart on a fake clock, each inferred in ``took`` s on the
    one-stream request (twice that on a one-core request); returns the choices."""
    log = []
    for _ in range(frames):
        clock[0] += apart
        one = c.enter()
        log.append(one)
        c.leave(one, took if one else 2 * took)
    return log


@pytest.mark.parametrize("apart, back_to_latency", [
    (0.0105, False),  # 1.05 × the one-stream time: one request would barely keep up, with no room
                      # for the frame's other work (an unpaced OpenVINO INT8 file on 2 cores)
    (0.020, True),   # 2 × : a paced source one request keeps up with
])
def test_throughput_mode_tries_latency_only_when_frames_leave_room(apart, back_to_latency):
    clock = [0.0]
    c = RequestChooser(refresh=10 ** 9, clock=lambda: clock[0])  # the gap rule alone (refresh: below)
    c.one_times.extend([0.010] * 8)  # the one-stream request has taken 10 ms a frame
    c.latency, c.first = False, False  # ... and a backlog moved the frames to one-core requests
    log = drive(c, clock, apart, 0.010, 64)
    assert (True in log) is back_to_latency, log


@pytest.mark.parametrize("refresh, apart, back_to_latency", [
    (4, 0.040, True),         # the stale estimate is measured again, and one request keeps up
    (10 ** 9, 0.040, False),  # never measured again: one-core requests for good (the bug it fixes)
    (4, 0.029, False),        # frames as fast as two one-core requests (58 ms) serve them: no
                              # room for one request, stale or not (an unpaced file)
])
def test_a_stale_one_stream_time_is_measured_again(refresh, apart, back_to_latency):
    """A one-stream time taken under a start-up backlog (50 ms) hides that one request now keeps
    up with frames 40 ms apart (29 ms each): OpenVINO FP32 paced at 25 fps on 2 cores."""
    clock = [0.0]
    c = RequestChooser(refresh=refresh, streams=2, clock=lambda: clock[0])
    c.one_times.extend([0.050] * 8)
    c.latency, c.first = False, False
    log = drive(c, clock, apart, 0.029, 400)
    assert all(log[-200:]) is back_to_latency and (True in log) is back_to_latency, log
    if back_to_latency:
        assert log.index(True) <= refresh * c.probe_every  # after the refresh interval, not later
        assert max(c.one_times) == pytest.approx(0.029)  # the old times are gone
