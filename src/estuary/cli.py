"""The ``estuary`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_demo(args) -> int:
    from estuary.apps.demo import run_demo
    return run_demo(output=args.output, frames=args.frames, video=args.video, metrics_port=args.metrics_port,
                    metrics_host=args.metrics_host)


def _list_elements() -> int:
    """Every Estuary element: its names (es* and DeepStream's) and what it does."""
    from estuary.gst.element import registered_elements
    by_class: dict[type, list[str]] = {}
    for name, cls in registered_elements().items():
        by_class.setdefault(cls, []).append(name)
    for cls, names in sorted(by_class.items(), key=lambda kv: kv[1][0]):
        print(f"{', '.join(names):<40} {cls.METADATA[0]}: {cls.METADATA[2]}")
    print(f"\n{sum(map(len, by_class.values()))} names, {len(by_class)} elements; "
          "`estuary inspect <name>` shows one (gst-inspect-1.0 too, with GST_PLUGIN_PATH=$(estuary gst-plugin-path))")
    return 0


def _cmd_inspect(args) -> int:
    import estuary  # noqa: F401
    from estuary.gst import Gst
    if args.element is None:
        return _list_elements()
    factory = Gst.ElementFactory.find(args.element)
    if factory is None:
        print(f"estuary: no element named {args.element!r}", file=sys.stderr)
        return 2
    el = factory.create(None)
    print(f"{args.element}: {factory.get_metadata('long-name')} — {factory.get_metadata('description')}")
    for pspec in el.list_properties():
        if pspec.owner_type in (Gst.Object.__gtype__, Gst.Element.__gtype__):
            continue
        print(f"  {pspec.name:<28} {pspec.value_type.name:<10} default={pspec.get_default_value()!r}  {pspec.blurb}")
    for t in factory.get_static_pad_templates():
        print(f"  pad {t.name_template} ({t.direction.value_nick}, {t.presence.value_nick}): {t.get_caps().to_string()}")
    for line in getattr(el, "inspect_notes", lambda: [])():  # e.g. nvinfer: the CPU backends installed
        print(f"  {line}")
    return 0


def _cmd_apps(args) -> int:
    from estuary.apps.samples import SAMPLES
    import importlib
    import textwrap
    for name, mod in SAMPLES.items():
        doc = (importlib.import_module(f"estuary.apps.samples.{mod}").__doc__ or "").strip()
        summary = " ".join(doc.split("\n\n")[0].split())  # the whole first paragraph
        print(textwrap.fill(summary, width=100, initial_indent=f"{name:<26}", subsequent_indent=" " * 26,
                            break_on_hyphens=False))
    return 0


def _cmd_run(args) -> int:
    import importlib
    import os
    from estuary.apps.samples import SAMPLES
    if args.app not in SAMPLES:
        print(f"estuary: unknown app {args.app!r}; `estuary apps` lists them", file=sys.stderr)
        return 2
    inputs = list(args.inputs)
    if inputs[:1] in (["-h"], ["--help"]):
        return _run_usage(args.app)
    inputs, rc = _take_output_option(args.app, inputs)
    if rc is not None:
        return rc
    from estuary import data
    data.ensure()
    positional = not any(i.startswith("-") for i in inputs)
    uri_apps = ("test3", "nvdsanalytics", "imagedata-multistream", "runtime-add-delete", "opticalflow")
    folder_last = args.app in ("imagedata-multistream", "opticalflow", "segmentation")  # last arg: output folder
    checked = inputs[:-1] if folder_last else inputs
    for i, item in enumerate(checked if positional else []):
        if "://" not in item and not item.isdigit() and not item.startswith("/dev/"):
            if not os.path.exists(item):
                print(f"estuary: no such file: {item}", file=sys.stderr)
                return 4
            if args.app in uri_apps:
                inputs[i] = "file://" + os.path.abspath(item)
    sys.path.insert(0, os.path.dirname(importlib.import_module("estuary.apps.samples").__file__))
    # the app stays unmodified: its bus handler is observed so that an ERROR or a signal gives
    # the right exit status (see estuary.apps.supervise)
    from estuary.apps.supervise import AppSupervisor
    sup = AppSupervisor()
    common_bus = importlib.import_module("common.bus_call")
    original = getattr(common_bus.bus_call, "__wrapped__", common_bus.bus_call)
    common_bus.bus_call = sup.wrap_bus_call(original)
    mod = importlib.import_module(f"estuary.apps.samples.{SAMPLES[args.app]}")
    if getattr(mod, "bus_call", None) is not None:
        mod.bus_call = common_bus.bus_call
    sup.install()
    # the unmodified app prints what it prints (test3 echoes its URIs): mask passwords in it
    from estuary.redact import RedactingStream
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(real_out), RedactingStream(real_err)
    try:
        argv = [f"{SAMPLES[args.app]}.py", *inputs]
        if hasattr(mod, "parse_args"):  # option-parsing samples (test4, rtsp-out, demux)
            if mod.parse_args(inputs) == 1:
                return 1
            if hasattr(mod, "stream_paths") and args.app == "demux-multi-in-multi-out":
                argv = mod.stream_paths  # its main takes the stream list
        rc = mod.main(argv)
    except SystemExit as exc:
        rc = exc.code
    except KeyboardInterrupt:
        rc = None
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.drain() if isinstance(stream, RedactingStream) else stream.flush()
        sys.stdout, sys.stderr = real_out, real_err
        sup.restore()
        common_bus.bus_call = original
        if getattr(mod, "bus_call", None) is not None:
            mod.bus_call = original
    why = sup.summary(args.app, list(args.inputs))
    if why:
        from estuary.redact import redact
        print(redact(why), file=sys.stderr)  # it names the inputs: camera URIs with passwords
    if isinstance(rc, int) and rc != 0:
        return rc
    if isinstance(rc, str):  # sys.exit("message")
        return 1
    return sup.exit_code()


def _sample_source(app: str) -> str:
    import importlib.util
    from estuary.apps.samples import SAMPLES
    spec = importlib.util.find_spec(f"estuary.apps.samples.{SAMPLES[app]}")
    with open(spec.origin, encoding="utf-8") as f:
        return f.read()


def _draws_to_display(app: str) -> bool:
    """The sample shows its annotated video in a window (DeepStream's nveglglessink)."""
    return '"nveglglessink"' in _sample_source(app)


def _has_own_output_option(app: str) -> bool:
    return '"--output"' in _sample_source(app)


def _run_usage(app: str) -> int:
    """``estuary run <app> --help``: the sample's own usage line (or its option help)."""
    import importlib
    import re
    from estuary.apps.samples import SAMPLES
    mod = importlib.import_module(f"estuary.apps.samples.{SAMPLES[app]}")
    output_help = "--output FILE.mp4   write the annotated video to an MP4 file (H.264) instead of a window"
    takes_output = _draws_to_display(app) and not _has_own_output_option(app)
    if hasattr(mod, "parse_args"):  # an option-parsing sample: its own --help
        argv0, sys.argv[0] = sys.argv[0], f"estuary run {app}"  # the program name in its usage line
        try:
            mod.parse_args(["--help"])
        except SystemExit:
            pass
        finally:
            sys.argv[0] = argv0
        if takes_output:
            print(f"\nEstuary adds:\n  {output_help}")
        return 0
    m = re.search(r'usage: %s ([^"\\]*)', _sample_source(app))
    operands = m.group(1).strip() if m else "[inputs...]"
    output = " [--output FILE.mp4]" if takes_output else ""
    print(f"usage: estuary run {app}{output} {operands}\n")
    print((mod.__doc__ or "").strip())
    if output:
        print(f"\n{output_help}")
    return 0


def _take_output_option(app: str, inputs: list[str]) -> tuple[list[str], int | None]:
    """Take ``--output FILE.mp4`` out of a display sample's arguments: its display sink then
    writes the file (``$ESTUARY_DISPLAY_OUTPUT``, see estuary.elements.sinks). A sample with
    an ``--output`` of its own keeps it."""
    import os
    if not any(a == "--output" or a.startswith("--output=") for a in inputs):
        return inputs, None
    if _has_own_output_option(app):  # the sample's own --output (preprocess-test)
        return inputs, None
    if not _draws_to_display(app):
        print(f"estuary: {app} writes its own output and has no --output; "
              f"`estuary run {app} --help` shows its arguments", file=sys.stderr)
        return inputs, 2
    rest, out = [], None
    it = iter(inputs)
    for a in it:
        if a == "--output":
            out = next(it, None)
        elif a.startswith("--output="):
            out = a.split("=", 1)[1]
        else:
            rest.append(a)
    if not out:
        print("estuary: --output needs a file name, e.g. --output out.mp4", file=sys.stderr)
        return inputs, 2
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        print(f"estuary: cannot write {out}: no folder {folder}", file=sys.stderr)
        return inputs, 4
    from estuary.elements.sinks import OUTPUT_ENV
    os.environ[OUTPUT_ENV] = os.path.abspath(out)
    return rest, None


def _bench_candidates() -> list[str]:
    """Where a source checkout keeps bench/cpu_compare.py: beside src/ of this package, or in
    the current folder."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "..", "..", "bench", "cpu_compare.py"),
            os.path.join(os.getcwd(), "bench", "cpu_compare.py")]


def _cmd_bench(argv: list[str]) -> int:
    """``estuary bench``: the CPU comparison is benchmark code with its peers (supervision,
    trackers, streamvision) and lives in the repository's bench/, which the wheel does not ship."""
    import os
    script = next((os.path.realpath(p) for p in _bench_candidates() if os.path.isfile(p)), None)
    if script is None:
        print("estuary: `estuary bench` runs bench/cpu_compare.py of a source checkout, and none was found "
              "(the installed package does not ship the benchmarks): clone the Estuary repository and run "
              "`estuary bench` (or `python bench/cpu_compare.py`, `make bench`) in its folder", file=sys.stderr)
        return 2
    import importlib.util
    spec = importlib.util.spec_from_file_location("estuary_bench_cpu_compare", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(argv)


def _cmd_gst_plugin_path(args) -> int:
    from estuary.gst import Gst, ensure_init
    from estuary.gstplugin import plugin_path
    print(plugin_path())
    ensure_init()
    if Gst.Registry.get().find_plugin("python") is None:  # the folder is useless without it
        print("estuary: GStreamer's Python plugin loader is not installed: "
              "apt install gstreamer1.0-python3-plugin-loader (scripts/setup.sh does)", file=sys.stderr)
        return 1
    return 0


def _cmd_launch(args) -> int:
    import time
    import pyds  # noqa: F401
    from estuary.gst import Gst
    from estuary.errors import ConfigError
    try:
        p = Gst.parse_launch(" ".join(args.pipeline))
    except Exception as exc:  # noqa: BLE001 - GLib.Error from the parser
        raise ConfigError(f"cannot build the pipeline: {exc}") from None
    if args.verbose:
        _print_property_changes(p)
    progress = None
    if not args.quiet:
        from estuary.perf import PipelineProgress
        progress = PipelineProgress(p, interval=args.progress)
        progress.start()
    t0 = time.monotonic()
    from estuary.runner import run
    rc = run(p, metrics_port=args.metrics_port, metrics_host=args.metrics_host)
    if progress is not None:
        print(f"estuary: {progress.stop()}", file=sys.stderr)
    if args.json:
        import json
        print(json.dumps({"status": rc, "seconds": round(time.monotonic() - t0, 3),
                          **({"frames": progress.frames} if progress is not None else {})}))
    return rc


def _print_property_changes(pipeline) -> None:
    """gst-launch-1.0 -v: print every property change inside the pipeline (negotiated caps, ...)."""
    def on_notify(_pipeline, obj, pspec):
        try:
            value = obj.get_property(pspec.name)
        except Exception:  # noqa: BLE001 - a write-only or unreadable property
            return
        if value is None:  # reset while shutting down
            return
        if hasattr(value, "to_string"):
            value = value.to_string()
        from estuary.redact import redact  # a source's uri/location property holds its password
        print(redact(f"{obj.get_path_string()}: {pspec.name} = {value}"), flush=True)

    pipeline.connect("deep-notify", on_notify)


def _cmd_fleet(args) -> int:
    import json
    import signal
    from estuary.fleet import admin
    from estuary.fleet.topics import Camera
    from estuary.redact import redact
    if args.fleet_cmd == "worker":
        from estuary.fleet.worker import Worker
        w = Worker(args.bootstrap, args.id, capacity=args.capacity, profile=args.profile,
                   session_timeout_ms=args.session_timeout_ms, heartbeat_ms=args.heartbeat_ms,
                   instance_id=args.instance_id, dry=args.dry, record_dir=args.record_dir,
                   journal=args.journal, metrics_port=args.metrics_port, metrics_host=args.metrics_host)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: w.stop())
        return w.run()
    if args.fleet_cmd == "init":
        from estuary.fleet.topics import ensure_topics
        n = ensure_topics(args.bootstrap, partitions=args.partitions)
        print(f"topics ready; the cameras topic has {n} partitions"
              + ("" if n == args.partitions else f" (it already existed; {args.partitions} asked)"))
        return 0
    if args.fleet_cmd == "add":
        from estuary.redact import uri_password
        if uri_password(args.uri) and "${" not in args.uri:
            print("estuary: warning: this URI's password is stored in clear in the cameras topic; "
                  "write it as ${NAME} and set NAME in the workers' environment", file=sys.stderr)
        cam = Camera(args.camera, args.uri, args.profile, cost=args.cost, width=args.width, height=args.height,
                     fps=args.fps)
        part = admin.add(args.bootstrap, cam)
        print(f"camera {args.camera} added (partition {part}, cost {cam.load:g})")
        return 0
    if args.fleet_cmd == "balance":
        moves, lay = admin.balance(args.bootstrap, apply=not args.dry_run)
        for mv in moves:
            print(f"{'would move' if args.dry_run else 'moved'} {mv.camera} (cost {lay.cameras[mv.camera][1]:g}) "
                  f"from {mv.worker_from} to {mv.worker_to} (partition {mv.source} -> {mv.target})")
        print(f"{len(moves)} moves; cost spread over workers {lay.spread():g} (bound {lay.bound():g}: the "
              f"largest camera)")
        return 0
    if args.fleet_cmd == "remove":
        admin.remove(args.bootstrap, args.camera)
        print(f"camera {args.camera} removed")
        return 0
    if args.fleet_cmd == "list":
        table = admin.cameras(args.bootstrap)
        for cam in sorted(table.values(), key=lambda c: c.id):
            print(f"{cam.id}\t{cam.profile}\t{redact(cam.uri)}")
        return 0
    from estuary.fleet.worker import fleet_status
    st = fleet_status(args.bootstrap, seconds=args.seconds)
    if args.json:
        print(redact(json.dumps(st, indent=1)))
        return 0
    from estuary.fleet.worker import render_status
    known = admin.cameras(args.bootstrap)
    print(redact(render_status(st, known, per_camera=not args.summary)), end="")
    return 0


def _metrics_options(parser) -> None:
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics on http://HOST:PORT/metrics (see --metrics-host)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics server listens on (default 127.0.0.1, this machine "
                             "only; 0.0.0.0 for a Prometheus server elsewhere)")


def _positive_seconds(text: str) -> float:
    """An argparse type: seconds > 0 (0 would make a progress thread print in a busy loop)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="estuary", description=__doc__)
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level (stderr)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run the flagship demo and write an annotated MP4")
    d.add_argument("--output", default="out/demo.mp4")
    d.add_argument("--frames", type=int, default=-1, help="stop after this many frames")
    d.add_argument("--video", default=None, help="another H.264 MP4 file to run on")
    _metrics_options(d)
    d.set_defaults(func=_cmd_demo)
    a = sub.add_parser("apps", help="list the sample applications")
    a.set_defaults(func=_cmd_apps)
    r = sub.add_parser("run", help="run a sample application: estuary run <app> [--output FILE.mp4] [inputs...] "
                                   "(estuary run <app> --help)")
    r.add_argument("app")
    r.add_argument("inputs", nargs=argparse.REMAINDER)
    r.set_defaults(func=_cmd_run)
    la = sub.add_parser("launch", help="run a gst-launch-style pipeline with Estuary's elements")
    la.add_argument("-e", "--eos-on-shutdown", action="store_true",
                    help="send EOS on Ctrl-C so files are finished (always done; accepted as gst-launch-1.0's -e)")
    la.add_argument("-v", "--verbose", action="store_true",
                    help="print property changes (negotiated caps, ...) as gst-launch-1.0 -v does")
    la.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    la.add_argument("--progress", type=_positive_seconds, default=2.0, metavar="SECONDS",
                    help="seconds between progress lines on stderr (frames, fps; default 2)")
    la.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    _metrics_options(la)
    la.add_argument("pipeline", nargs=argparse.REMAINDER)
    la.set_defaults(func=_cmd_launch)
    b = sub.add_parser("bench", add_help=False,
                       help="CPU benchmark against a naive loop and Roboflow's pipeline (estuary bench --help)")
    b.set_defaults(func=None)
    fl = sub.add_parser("fleet", help="cameras sharded over workers by a Kafka consumer group")
    fl.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    fsub = fl.add_subparsers(dest="fleet_cmd", required=True)
    fw = fsub.add_parser("worker", help="join the group and run the cameras it assigns")
    fw.add_argument("--id", default=None, help="worker id (default: host-pid)")
    fw.add_argument("--capacity", type=int, default=8, help="most streams this worker runs")
    fw.add_argument("--profile", default="count", choices=["count", "detect"])
    fw.add_argument("--session-timeout-ms", type=int, default=6000,
                    help="how long the group waits for a silent worker before moving its cameras "
                         "(a Kafka broker accepts group.min.session.timeout.ms and up: 6000 by default)")
    fw.add_argument("--heartbeat-ms", type=int, default=None,
                    help="heartbeat interval (default: a tenth of the session timeout)")
    fw.add_argument("--instance-id", default=None,
                    help="group.instance.id: static membership (KIP-345), e.g. a StatefulSet pod name; "
                         "see docs/fleet.md before using it")
    fw.add_argument("--dry", action="store_true",
                    help="no decoding: each camera is a light stand-in (for simulating large fleets)")
    fw.add_argument("--record-dir", default=None,
                    help="also record each camera to an MP4 file here (closed through EOS on stop)")
    fw.add_argument("--journal", default=None, help="append a JSON line per camera start/stop to this file")
    fw.add_argument("--metrics-port", type=int, default=None,
                    help="serve /metrics (Prometheus) and /healthz on this port")
    fw.add_argument("--metrics-host", default="127.0.0.1",
                    help="address for --metrics-port (0.0.0.0 in a container)")
    fa = fsub.add_parser("add", help="add (or change) a camera")
    fa.add_argument("camera")
    fa.add_argument("uri")
    fa.add_argument("--profile", default="count")
    fa.add_argument("--cost", type=float, default=None,
                    help="what the camera costs to run, in 1080p30 streams (default: from --width/--height/"
                         "--fps, else 1); placement balances total cost per worker")
    fa.add_argument("--width", type=int, default=None, help="stream width (cost = width×height×fps / 1080p30)")
    fa.add_argument("--height", type=int, default=None, help="stream height")
    fa.add_argument("--fps", type=float, default=None, help="stream frame rate")
    fb = fsub.add_parser("balance", help="move cameras (stop, then start) so that every worker runs about the "
                                         "same total cost (within the largest camera's cost)")
    fb.add_argument("--dry-run", action="store_true", help="only print the moves")
    fr = fsub.add_parser("remove", help="remove a camera (a tombstone)")
    fr.add_argument("camera")
    fsub.add_parser("list", help="list the cameras")
    fs = fsub.add_parser("status", help="which worker runs which camera, with fps")
    fs.add_argument("--seconds", type=float, default=5.0, help="workers heard from this recently")
    fs.add_argument("--json", action="store_true")
    fs.add_argument("--summary", action="store_true", help="per-worker load only, no camera lines")
    fi = fsub.add_parser("init", help="create the fleet's topics (size the cameras topic to the fleet)")
    fi.add_argument("--partitions", type=int, default=12,
                    help="partitions of the cameras topic: at least the most cameras you will run "
                         "for a balance of ±1 camera per worker (docs/fleet.md)")
    fl.set_defaults(func=_cmd_fleet)
    i = sub.add_parser("inspect", help="list Estuary's elements, or show one's properties and pads")
    i.add_argument("element", nargs="?", default=None)
    i.set_defaults(func=_cmd_inspect)
    g = sub.add_parser("gst-plugin-path",
                       help="print the folder for GST_PLUGIN_PATH (gst-inspect-1.0/gst-launch-1.0 then see Estuary)")
    g.set_defaults(func=_cmd_gst_plugin_path)
    rest = list(sys.argv[1:] if argv is None else argv)
    if rest[:1] == ["bench"]:  # its own options, --help included, go to the benchmark
        return _cmd_bench(rest[1:])
    args = parser.parse_args(argv)
    import logging
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(levelname)s %(name)s: %(message)s")
    from estuary.redact import install_log_redaction, redact
    install_log_redaction()  # no log line shows a password, whichever library logs it
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001
        from estuary.errors import EstuaryError
        if isinstance(exc, EstuaryError):
            print(f"estuary: {redact(exc)}", file=sys.stderr)
            return exc.exit_code
        raise


if __name__ == "__main__":
    sys.exit(main())
