"""The ``alpr`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import redis
from clickhouse_connect.driver.exceptions import Error as ClickHouseError
from confluent_kafka import KafkaException

from alpr import config as config_mod
from alpr.access.gate import AccessDenied, AuditUnavailable
from alpr.app import access_cli, compliance_cli, feedback_cli, hotlist_cli, share_cli, storage_cli
from alpr.app.cli_util import Exit, say
from alpr.config import Config, ConfigError
from alpr.crypto import KeyUnavailable
from alpr.domain.passwords import PasswordRejected
from alpr.domain.sharing import RequestError
from alpr.store.db import DatabaseBusy
from alpr.store.evidence import EvidenceError
from alpr.store.search import SearchError
from alpr.store.shares import ShareError
from alpr.store.sql_guard import SqlRefused
from alpr.store.users import UserError

log = logging.getLogger("alpr")



def _serve_metrics(cfg: Config) -> None:
    """Frames published per camera, for Prometheus (monitoring.publisher_metrics_port; 0 = off)."""
    port = cfg.monitoring.publisher_metrics_port
    if port:
        from prometheus_client import start_http_server

        try:
            start_http_server(port, addr=cfg.flow.metrics_host)
        except OSError as exc:
            log.warning("metrics endpoint not started on port %d: %s", port, exc)


def cmd_config_show(cfg: Config, args: argparse.Namespace) -> int:
    data = config_mod.as_masked_dict(cfg)
    print(json.dumps(data, indent=2) if args.json else config_mod.to_toml(data), end="" if not args.json else "\n")
    return 0


def cmd_stack(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.dev import stack

    try:
        if args.action == "up":
            lines = stack.up(cfg, monitoring=args.monitoring)
        elif args.action == "down":
            lines = stack.down(cfg)
        else:
            rows = stack.status(cfg, monitoring=args.monitoring)
            if args.json:
                print(json.dumps(rows))
            lines = [
                f"{r['service']:6} {r['endpoint']:22} "
                + ("external" if not r["managed"] else f"pid {r['pid']}" if r["pid"] else "not started by alpr")
                + ("  healthy" if r["healthy"] else "  DOWN")
                for r in rows
            ]
            if not args.json:
                print("\n".join(lines))
            return 0 if all(r["healthy"] for r in rows) else 1
    except stack.StackError as exc:
        say(f"error: {exc}")
        return 2
    print("\n".join(lines))
    return 0


def cmd_db_migrate(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.store import db

    applied = db.migrate(db.connect(cfg), cfg)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def cmd_simulate(cfg: Config, args: argparse.Namespace) -> int:
    import time

    from alpr.dev.simulator.traffic import Simulator
    from alpr.messages.frames import encode_jpeg

    sim_cfg = cfg.simulator
    for name in ("fixed_cameras", "mobile_units", "fps", "seed"):
        if getattr(args, name) is not None:
            setattr(sim_cfg, name, getattr(args, name))
    config_mod.validate(cfg)
    sim = Simulator(sim_cfg)
    if args.write_dataset:
        from alpr.dev.simulator.dataset import write_dataset

        out = Path(args.write_dataset)
        count = args.frames or 200
        stats = write_dataset(sim.frames(realtime=False), out, count,
                              progress=lambda n: n % 50 == 0 and say(f"{n}/{count} images written"))
        print(json.dumps({"dir": str(out), **stats}))
        return 0

    from alpr.messages import kafka
    from alpr.messages.publish import FramePublisher

    kafka.ensure_topics(cfg)
    pub = FramePublisher(cfg)
    _serve_metrics(cfg)
    frames = sim.frames(realtime=not args.fast)
    t0 = last = time.monotonic()
    n = 0
    try:
        while (args.frames is None or n < args.frames) and (args.seconds is None or time.monotonic() - t0 < args.seconds):
            f = next(frames)
            pub.publish(f.meta, encode_jpeg(f.image, 88))
            n += 1
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                say(f"{n} frames published from {len(sim.cameras)} cameras ({n / (last - t0):.1f}/s)")
    except KeyboardInterrupt:
        pass
    pub.flush()
    say(f"done: {n} frames published to {cfg.kafka.frames_topic}")
    return 0


def cmd_ingest(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.domain.types import Location
    from alpr.messages import ingest, kafka
    from alpr.messages.publish import FramePublisher

    try:
        source = ingest.open_source(args.source, args.max_fps)  # a bad path fails before any connection
        kafka.ensure_topics(cfg)
        pub = FramePublisher(cfg)
        _serve_metrics(cfg)
    except ingest.SourceError as exc:
        say(f"error: {exc}")
        return 2
    try:
        n = ingest.ingest(source, args.camera_id, Location(args.lat, args.lon), pub.publish, args.max_fps,
                          live=ingest.is_stream(args.source))
    except ingest.SourceError as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        n = pub.sent
    finally:
        pub.flush()
    say(f"done: {n} frames from {args.source} published as camera {args.camera_id}")
    return 0


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    """Run the read flow in this process with Bytewax (threads with -w, processes/machines with -i/-a)."""
    from datetime import timedelta

    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from alpr.store import db
    from flows import read_flow

    db.check_free(cfg)  # the flow opens the embedded database: say who holds it before loading models
    recovery = None
    if cfg.flow.recovery_dir != "off":
        folder = Path(cfg.flow.recovery_dir or cfg.data_path / "recovery")
        if not folder.is_dir():  # one partition file; every process of the cluster must reach it
            folder.mkdir(parents=True)
            subprocess.run([sys.executable, "-m", "bytewax.recovery", str(folder), "1"], check=True)
        recovery = RecoveryConfig(str(folder), timedelta(0))
    if args.process_id is not None:
        cfg.flow.metrics_port += args.process_id  # processes sharing a host each need their own port
    if args.serve:
        from alpr.app import server

        server.start_beside(cfg)
        say(f"dispatch console: {cfg.api.base_url()}/console (API beside the flow)")
    cli_main(read_flow.prepared(cfg), workers_per_process=args.workers or cfg.flow.workers_per_process,
             process_id=args.process_id, addresses=args.addresses.split(";") if args.addresses else None,
             epoch_interval=timedelta(seconds=max(1, round(cfg.flow.snapshot_interval_s))), recovery_config=recovery)
    return Exit.OK


def _height_x_width(text: str) -> tuple[int, int]:
    """``384x640`` -> (384, 640); YOLO strides need multiples of 32."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 384x640, got {text!r}") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"{text}: height and width must be positive multiples of 32")
    return h, w


def _need(*modules: str) -> None:
    """Fail before any work when an optional package (the train extra) is missing."""
    import importlib.util

    for name in modules:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def cmd_train_detector(cfg: Config, args: argparse.Namespace) -> int:
    # Training drives ultralytics, so it lives with the detectors; the CLI only launches it.
    import shlex
    import sys

    from detectors.training import detector_data, detector_loop
    from detectors.yolo import BUNDLED

    for folder in [*args.real, *args.held_out, *args.split, *([args.negatives] if args.negatives else [])]:
        if not Path(folder).is_dir():
            say(f"no such folder: {folder}")
            return 2
    overlap = {Path(d).resolve() for d in args.real} & {Path(d).resolve() for d in args.held_out}
    if overlap:
        say(f"a folder cannot be both trained on and held out: {', '.join(map(str, overlap))}")
        return 2
    _need("torch", "ultralytics", "onnx")  # before the dataset is built, after the arguments are checked
    workdir = Path(args.workdir or Path(cfg.data_dir) / "train")
    splits, held_out = {}, list(args.held_out)
    for folder in map(Path, args.split):
        kept = workdir / "held-out" / folder.name
        stems = detector_data.split_folder(folder, args.split_share, kept)
        splits[folder] = (stems, args.split_repeat)
        held_out.append(f"{folder}: {len(list(kept.glob('*.txt')))} images outside the training share of "
                        f"{len(stems)} (a fixed split by name), linked in {kept}")
    data, stats = detector_data.build_dataset(workdir / "dataset", args.sim, [Path(d) for d in args.real],
                                      Path(args.negatives) if args.negatives else None, args.negatives_count,
                                      seed=args.seed, splits=splits, progress=say)
    say(f"dataset: {stats.train_images} training and {stats.val_images} validation images, {stats.plates} plates")
    out = Path(args.out) if args.out else BUNDLED
    metrics = detector_loop.train(data, out, model=args.model, epochs=args.epochs, hours=args.hours, imgsz=args.imgsz,
                          batch=args.batch, workdir=workdir, seed=args.seed, export_size=args.input)
    card = detector_loop.write_card(out, model=args.model, epochs=args.epochs, imgsz=args.imgsz, input_size=args.input,
                            batch=args.batch, seed=args.seed, stats=stats, held_out=held_out, metrics=metrics,
                            command="alpr " + shlex.join(sys.argv[1:]))
    print(json.dumps({"onnx": str(out), "card": str(card), **metrics}))
    return 0


def cmd_train_recognizer(cfg: Config, args: argparse.Namespace) -> int:
    # Fine-tuning drives torch, so it lives with the detectors; the CLI only launches it.
    import shlex
    import sys

    from detectors.training import recognizer_loop

    folders = {"--crops": args.crops, "--scenes": args.scenes, "--extra-crops": args.extra_crops}
    if not any(folders.values()):
        say("name at least one of --crops, --scenes, --extra-crops")
        return 2
    for flag, folder in folders.items():
        if folder and not Path(folder).is_dir():
            say(f"{flag}: no such folder: {folder}")
            return 2
    _need("torch", "onnx", "onnx2torch")  # before any data is read, after the arguments are checked
    out = Path(args.out)
    result = recognizer_loop.train(out, crops=Path(args.crops) if args.crops else None,
                                    scenes=Path(args.scenes) if args.scenes else None,
                                    extra_crops=Path(args.extra_crops) if args.extra_crops else None, share=args.share,
                                    minutes=args.minutes, lr=args.lr, batch=args.batch, seed=args.seed,
                                    synthetic=args.synthetic, progress=say)
    card = recognizer_loop.write_card(out, result, "alpr " + shlex.join(sys.argv[1:]))
    print(json.dumps({"onnx": str(out), "card": str(card)}))
    return 0


def cmd_train_state(cfg: Config, args: argparse.Namespace) -> int:
    # Training drives torch, so it lives with the detectors; the CLI only launches it.
    import shlex
    import sys

    from detectors.state_reader import BUNDLED
    from detectors.training import state_loop

    for flag, folder in {"--specimens": args.specimens, "--crops": args.crops}.items():
        if folder and not Path(folder).is_dir():
            say(f"{flag}: no such folder: {folder}")
            return 2
    _need("torch", "onnx")
    out = Path(args.out) if args.out else BUNDLED
    result = state_loop.train(out, specimens=Path(args.specimens), crops=Path(args.crops) if args.crops else None,
                              minutes=args.minutes, lr=args.lr, batch_size=args.batch, label_smoothing=args.label_smoothing,
                              seed=args.seed, checkpoint=Path(args.checkpoint) if args.checkpoint else None, progress=say)
    card = state_loop.write_card(out, result, "alpr " + shlex.join(sys.argv[1:]))
    print(json.dumps({"onnx": str(out), "card": str(card), **result["val"]}))
    return 0


def cmd_eval(cfg: Config, args: argparse.Namespace) -> int:
    # The evaluation drives a reader, so it lives with the detectors; the CLI only launches it.
    from detectors import evaluate
    from detectors.registry import make_reader, make_state_reader

    folder = Path(args.dir)
    try:
        if args.states:
            summary, tally = evaluate.evaluate_states(make_state_reader(cfg), folder, args.limit, args.held_out)
        else:
            run = evaluate.evaluate_crops if args.crops else evaluate.evaluate_scenes
            summary, tally = run(make_reader(cfg, args.detector), folder, args.limit, args.held_out)
    except FileNotFoundError as exc:
        say(f"error: {exc}")
        return 2
    if args.json:
        print(json.dumps(summary))
        return 0
    print(evaluate.table(summary, tally))
    png = Path(args.confusions)
    if tally.pairs:
        n = evaluate.confusion_png(tally.pairs, png)
        print(f"\ncharacter confusions ({n} substitutions): {png}")
    if tally.states:
        state_png = png.with_name(png.stem + "-states" + png.suffix)
        n = evaluate.state_confusion_png(tally.states, state_png)
        print(f"state confusions ({n} plates read in another state first): {state_png}")
    return 0


def cmd_demo(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.app import demo
    from alpr.dev.stack import StackError

    try:
        summary = demo.run(cfg, args.seconds, say, keep_stack=args.keep_stack)
    except StackError as exc:
        say(f"error: {exc}")
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        print(demo.format_summary(summary))
    return 0 if summary["reads"] > 0 else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alpr",
        description="Automated licence plate recognition: camera frames to plate reads, hot-list hits and search.",
        epilog="Configuration: embedded defaults, then --config FILE (or ALPR_CONFIG), then ALPR_<SECTION>__<KEY> "
        "environment variables. See `alpr config show`.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration file")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("config", help="show the effective configuration")
    csub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = csub.add_parser("show", help="print the configuration in effect, secrets masked")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    show.set_defaults(func=cmd_config_show)

    s = sub.add_parser("stack", help="run the local Kafka (tansu) and Redis services")
    s.add_argument("action", choices=["up", "down", "status"], help="start, stop (only what alpr started), or check")
    s.add_argument("--json", action="store_true", help="status as JSON")
    s.add_argument("--monitoring", action="store_true",
                   help="also a local Prometheus scraping the flow with the project's alert rules")
    s.set_defaults(func=cmd_stack)

    d = sub.add_parser("db", help="ClickHouse schema")
    dsub = d.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("migrate", help="apply pending schema migrations (idempotent)").set_defaults(func=cmd_db_migrate)

    sim = sub.add_parser("simulate", help="publish synthetic camera traffic, or write it as a dataset")
    sim.add_argument("--fixed", dest="fixed_cameras", type=int, help="fixed cameras (default from config)")
    sim.add_argument("--mobile", dest="mobile_units", type=int, help="mobile units moving along a GPS track")
    sim.add_argument("--fps", type=float, help="frames per second per camera")
    sim.add_argument("--seed", type=int, help="random seed; the same seed gives the same traffic")
    sim.add_argument("--seconds", type=float, help="stop after this many seconds")
    sim.add_argument("--frames", type=int, help="stop after this many frames")
    sim.add_argument("--fast", action="store_true", help="as fast as possible with simulated capture times")
    sim.add_argument("--write-dataset", metavar="DIR",
                     help="write images and openalpr-benchmarks endtoend labels to DIR instead of Kafka")
    sim.set_defaults(func=cmd_simulate)

    i = sub.add_parser("ingest", help="publish frames from a real camera: video file, RTSP/HTTP stream or image folder")
    i.add_argument("source", help="video file, image folder, or rtsp:// / http(s):// URL")
    i.add_argument("--camera-id", required=True, help="camera id (message key)")
    i.add_argument("--lat", type=float, required=True, help="camera site latitude")
    i.add_argument("--lon", type=float, required=True, help="camera site longitude")
    i.add_argument("--max-fps", type=float, default=5.0, help="publish at most this many frames per second (default 5)")
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("run", help="run the read flow (Bytewax)")
    r.add_argument("-w", "--workers", type=int, help="worker threads in this process")
    r.add_argument("-i", "--process-id", type=int, help="this process's index in a multi-process cluster")
    r.add_argument("-a", "--addresses", help="host:port of every process in the cluster, ';'-separated")
    r.add_argument("--serve", action="store_true", help="also serve the API and the dispatch console from this "
                   "process (on api.host:api.port): the embedded database opens in one process only")
    r.set_defaults(func=cmd_run)

    hotlist_cli.register(sub)
    storage_cli.register(sub)
    access_cli.register(sub)
    feedback_cli.register(sub)
    share_cli.register(sub)
    compliance_cli.register(sub)

    ev = sub.add_parser("eval", help="score plate detection, OCR and state reading on a labelled folder")
    ev.add_argument("dir", help="endtoend-format folder (NAME.jpg + NAME.txt), with --crops a seg_and_ocr folder, "
                    "with --states a folder of plate images with state.csv")
    mode = ev.add_mutually_exclusive_group()
    mode.add_argument("--crops", action="store_true",
                      help="DIR holds groundtruth.csv (file,state,PLATE) and usimages/: recognition and state only")
    mode.add_argument("--states", action="store_true",
                      help="DIR holds plate images and state.csv (file,state[,design], a header line): the state reader alone")
    ev.add_argument("--held-out", action="store_true",
                    help="only what the bundled models did not train on: designs outside the state classifier's "
                    "training share, crops and scenes outside the 50%% name split")
    ev.add_argument("--detector", help="reader to use (default: reader.engine)")
    ev.add_argument("--limit", type=int, help="only the first N images")
    ev.add_argument("--json", action="store_true", help="one JSON object instead of a table and a PNG")
    ev.add_argument("--confusions", default="eval-confusions.png", help="where to write the confusion PNG")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("train", help="train a model (needs the train extra: pip install -e '.[train]')")
    trs = tr.add_subparsers(dest="what", required=True, metavar="WHAT")
    td = trs.add_parser("detector", help="train the YOLO plate detector, export ONNX and write its model card")
    td.add_argument("--out", help="ONNX file to write (default: the bundled model, detectors/models/)")
    td.add_argument("--sim", type=int, default=800, help="simulated scenes to include (default 800)")
    td.add_argument("--real", action="append", default=[], metavar="DIR",
                    help="an endtoend-format folder of real scenes to train on (repeatable)")
    td.add_argument("--held-out", action="append", default=[], metavar="DIR",
                    help="a folder kept out of training, recorded in the model card for evaluation (repeatable)")
    td.add_argument("--split", action="append", default=[], metavar="DIR",
                    help="train on a fixed share of this folder and hold out the rest (linked under WORKDIR/held-out/)")
    td.add_argument("--split-share", type=float, default=0.5, help="the share of a --split folder to train on")
    td.add_argument("--split-repeat", type=int, default=1, help="times each training image of a --split folder is used")
    td.add_argument("--negatives", metavar="DIR", help="folder of plate-free scenes (hard negatives)")
    td.add_argument("--negatives-count", type=int, default=200, help="how many negatives to take (default 200)")
    td.add_argument("--model", default="yolov8n.yaml",
                    help="ultralytics model yaml (default yolov8n.yaml), or our own earlier .pt to train on from")
    td.add_argument("--epochs", type=int, default=40)
    td.add_argument("--hours", type=float, help="stop after this long instead (the schedule fits the time)")
    td.add_argument("--imgsz", type=int, default=320)
    td.add_argument("--input", type=_height_x_width, metavar="HxW",
                    help="input size of the exported model (default: IMGSZ square); 384x640 fits a 16:9 frame unpadded")
    td.add_argument("--batch", type=int, default=16)
    td.add_argument("--seed", type=int, default=0)
    td.add_argument("--workdir", default="", help="dataset and training runs (default: <data_dir>/train)")
    td.set_defaults(func=cmd_train_detector)
    tr = trs.add_parser("recognizer", help="fine-tune PP-OCRv4's recognizer on plate crops, export ONNX and write its model card")
    tr.add_argument("--out", required=True, help="ONNX file to write; use it with reader.recognizer_weights")
    tr.add_argument("--crops", metavar="DIR", help="seg_and_ocr-layout crops (groundtruth.csv + usimages/); training share only")
    tr.add_argument("--scenes", metavar="DIR", help="endtoend-layout scenes; training share only (plates and detected lines)")
    tr.add_argument("--extra-crops", metavar="DIR", help="more labelled crops: labels.csv (file,plate) beside the images")
    tr.add_argument("--share", type=float, default=0.5, help="share of --crops and --scenes to train on; the rest is held out")
    tr.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="also N plates drawn by the simulator, a quarter of each batch (default 0)")
    tr.add_argument("--minutes", type=float, default=20.0, help="training time budget (default 20)")
    tr.add_argument("--lr", type=float, default=2e-4)
    tr.add_argument("--batch", type=int, default=16)
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(func=cmd_train_recognizer)
    ts = trs.add_parser("state", help="train the state classifier on specimens and real crops, export ONNX and its model card")
    ts.add_argument("--specimens", required=True, metavar="DIR", help="images with state.csv (file,state,design); "
                    "trained on the designs of the training share only")
    ts.add_argument("--crops", metavar="DIR", help="seg_and_ocr-layout real crops (column 2 the state); training share only")
    ts.add_argument("--out", help="ONNX file to write (default: the bundled model, detectors/models/)")
    ts.add_argument("--minutes", type=float, default=30.0, help="training time budget (default 30)")
    ts.add_argument("--checkpoint", metavar="FILE", help="save progress here and resume from it when it exists")
    ts.add_argument("--lr", type=float, default=2e-3)
    ts.add_argument("--batch", type=int, default=48)
    ts.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing (default 0.1)")
    ts.add_argument("--seed", type=int, default=0)
    ts.set_defaults(func=cmd_train_state)

    dm = sub.add_parser("demo", help="start the stack, simulate traffic through the read flow, report the results")
    dm.add_argument("--seconds", type=float, default=60.0, help="how long to simulate traffic (default 60)")
    dm.add_argument("--json", action="store_true", help="end with one JSON object of the results")
    dm.add_argument("--keep-stack", action="store_true", help="leave Kafka and Redis running afterwards")
    dm.set_defaults(func=cmd_demo)
    return p


def _one_line(exc: BaseException, cfg: Config) -> str:
    """The first line of an error, with any configured password taken out."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    for url in (cfg.redis.url, cfg.clickhouse.url):
        secret = urlsplit(url).password
        if secret:
            text = text.replace(secret, "****")
    return text


def _failure(exc: Exception, cfg: Config, args: argparse.Namespace) -> tuple[Exit, str]:
    """The exit code and one-line reason for an error that stopped a command."""
    if isinstance(exc, (AccessDenied, AuditUnavailable)):
        return Exit.REFUSED, f"refused: {exc}"
    if isinstance(exc, (SearchError, SqlRefused, EvidenceError, UserError, PasswordRejected, RequestError, ShareError)):
        return Exit.USAGE, f"error: {exc}"
    if isinstance(exc, redis.RedisError):
        return Exit.REDIS_DOWN, f"Redis unavailable at {config_mod.mask_url(cfg.redis.url)}: {_one_line(exc, cfg)}"
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args else exc
        reason = err.str() if hasattr(err, "str") else _one_line(exc, cfg)
        return Exit.KAFKA_DOWN, f"Kafka unavailable at {cfg.kafka.bootstrap_servers}: {reason}"
    if isinstance(exc, DatabaseBusy):
        return Exit.DATABASE_BUSY, f"error: {exc}"
    if isinstance(exc, ClickHouseError):
        where = config_mod.mask_url(cfg.clickhouse_url)
        return Exit.CLICKHOUSE_DOWN, f"ClickHouse unavailable at {where}: {_one_line(exc, cfg)}"
    if isinstance(exc, KeyUnavailable):
        return Exit.KEY_MISSING, f"error: {exc}"
    if isinstance(exc, ModuleNotFoundError):
        hint = " (pip install -e '.[train]')" if args.command == "train" else ""
        return Exit.EXTRA_MISSING, f"error: the Python package {exc.name!r} is not installed{hint}"
    return Exit.INTERNAL, f"internal error: {type(exc).__name__}: {_one_line(exc, cfg)} (rerun with -v for details)"


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends as a one-line reason on stderr and an ``Exit`` code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_mod.load(args.config)
    except ConfigError as exc:
        say(f"configuration error: {exc}")
        return Exit.USAGE
    try:
        return args.func(cfg, args)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`alpr ... | head`): nothing more to say to it, and nothing left to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.PIPE_CLOSED
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        code, reason = _failure(exc, cfg, args)
        log.debug("details", exc_info=exc)  # the traceback, with -v
        say(reason)
        return code


if __name__ == "__main__":
    sys.exit(main())
