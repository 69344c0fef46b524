import time

start_time = time.time()
frame_count = 0


class GETFPS:
    def __init__(self, stream_id):
        global start_time
        self.start_time = start_time
        self.is_first = True
        self.frame_count = frame_count
        self.stream_id = stream_id

    def get_fps(self):
        end_time = time.time()
        if self.is_first:
            self.start_time = end_time
            self.is_first = False
        if end_time - self.start_time > 5:
            print("**********************FPS*****************************************")
            print("Fps of stream", self.stream_id, "is ", float(self.frame_count) / 5.0)
            self.frame_count = 0
            self.start_time = end_time
        else:
            self.frame_count = self.frame_count + 1

    def print_data(self):
        print("frame_count=", self.frame_count)
        print("start_time=", self.start_time)


class PERF_DATA:
    """DeepStream 6.x+ FPS reporting: ``update_fps("stream<i>")`` per frame and
    ``GLib.timeout_add(5000, perf_data.perf_print_callback)``, which prints
    ``**PERF:  {'stream0': <fps>, ...}`` with the rate over the last interval."""

    def __init__(self, num_streams=1):
        import threading
        self._lock = threading.Lock()
        self._counts = {"stream{0}".format(i): 0 for i in range(num_streams)}
        self._since = time.time()

    def update_fps(self, stream_index):
        with self._lock:
            self._counts[stream_index] = self._counts.get(stream_index, 0) + 1

    def perf_print_callback(self):
        with self._lock:
            now = time.time()
            elapsed = max(now - self._since, 1e-9)
            fps = {k: round(v / elapsed, 2) for k, v in self._counts.items()}
            self._counts = {k: 0 for k in self._counts}
            self._since = now
        print("\n**PERF: ", fps, "\n")
        return True
