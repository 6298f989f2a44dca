"""The read flow: camera frames in, plate reads to ClickHouse, hot-list hits to dispatch.

    frames topic -> validate -> read plates -> group per camera --(pass closed)--> reads table (ClickHouse)
                       |            |              |
                       |            |              +--(each read, at once)--> hot-list join (Redis)
                       |            |                                          -> first hit per pass -> hits topic
                       +------------+-> dead-letter topic (original message + reason)

A hit goes out on the first read that matches, without waiting for the vehicle's pass to end; the
pass is stored once, when it closes (see ``alpr.domain.grouping``).

Run it with ``alpr run`` (or Bytewax's own runner on ``build_from_env``); Kafka partitions (one
camera each, by key) are spread over the workers.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

import bytewax.operators as op
import cv2
import numpy as np
import redis
from bytewax.dataflow import Dataflow, Stream
from prometheus_client import start_http_server

from alpr import config as config_mod
from alpr import retry
from alpr.config import Config, SimulatorConfig
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.hits import hit_key, suppress_repeats
from alpr.domain.types import Hit, PlateRead
from alpr.hotlists.store import HotlistStore
from alpr.messages import kafka
from alpr.store import db
from detectors.base import PlateReader
from detectors.registry import make_reader
from flows import steps
from sinks.clickhouse import HITS, IMAGES, READS, ClickHouseSink
from sinks.kafka import ExactlyOnceKafkaSink

log = logging.getLogger(__name__)


def build(cfg: Config, *, tail: bool = True, reader: PlateReader | None = None) -> Dataflow:
    """The dataflow, wired and not yet run (``set_up`` readies topics and tables); ``tail=False``
    stops at the end of the frames topic (tests, backfills)."""
    reader = reader or make_reader(cfg)
    log.info("reader %s, recognizers %s, on %s in %s", reader.detector_name, reader.ocr_name, reader.runtime,
             reader.precision)
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url))
    warm_up(reader, store)
    brokers = cfg.kafka.bootstrap_servers.split(",")
    kcfg = cfg.kafka.client_config()
    kcfg.pop("bootstrap.servers")

    flow = Dataflow("alpr_read")
    # Small batches: reading a frame takes tens to hundreds of ms, and a Bytewax epoch (a snapshot)
    # can only close once every frame of the batches it took is done.
    source = kafka.CheckedKafkaSource(brokers, [cfg.kafka.frames_topic], tail=tail, add_config=kcfg,
                                      batch_size=cfg.flow.source_batch_size, raise_on_errors=False)
    src = kafka.checked_input("frames_in", flow, source)
    kafka_errors = op.map(
        "kafka_errors", src.errs, lambda e: steps.Rejected(e.msg, "consume", "kafka_error", str(e.err))
    )

    checked = op.branch("is_valid", op.map("validate", src.oks, steps.validate), lambda x: isinstance(x, steps.Frame))
    read = op.branch("read_ok", op.map("read_plates", checked.trues, steps.make_read_step(reader)),
                     lambda x: isinstance(x, list))
    hits = after_ocr(cfg, op.flatten("reads", read.trues), store)

    rejected = op.merge("rejected", kafka_errors, checked.falses, read.falses)
    out = op.merge("to_kafka", op.map("hit_messages", hits, steps.make_hit_message_step(cfg)),
                   op.map("dead_letters", rejected, steps.make_dead_letter_step(cfg)))
    ids = {cfg.kafka.hits_topic: "hit_id", cfg.kafka.dead_letter_topic: "dlq_source"}
    op.output("kafka_out", op.key_on("one_producer", out, lambda _: "kafka"),
              ExactlyOnceKafkaSink(kafka.producer_config(cfg), cfg.kafka.client_config(), ids))
    return flow


def warm_up(reader: PlateReader, store: HotlistStore) -> None:
    """Run every model path and the hot-list script once before the first frame: first calls pay for
    lazy set-up (OpenVINO's first inference of each shape, Redis loading the script), and the first
    hits after a start would wait for it."""
    t0 = time.perf_counter()
    scene = next(Simulator(SimulatorConfig(fixed_cameras=1, mobile_units=0, no_plate_ratio=0.0)).frames(realtime=False))
    reader.read(scene.image)  # the plate detector and the recognizers
    reader.read(np.zeros_like(scene.image))  # no plate: the whole-frame text detector too
    try:
        store.match(["WARMUP0"])
    except redis.RedisError as exc:  # the join waits for Redis itself; nothing to warm yet
        log.warning("hot lists not warmed: %s", exc)
    log.info("models and hot-list script warmed in %.2f s", time.perf_counter() - t0)


def after_ocr(cfg: Config, reads: Stream[PlateRead], store: HotlistStore) -> Stream[Hit]:
    """Everything after OCR: passes to ClickHouse when they close; every read at once through the
    hot-list join and first-hit-per-pass; returns the hits (also stored in ClickHouse)."""
    by_camera = op.key_on("by_camera", reads, lambda r: r.frame.camera_id)
    grouped = op.map("unkey", op.stateful_batch("group_reads", by_camera, lambda state: steps.GroupReads(state, cfg.flow)),
                     lambda kv: kv[1])
    # Passes are written in batches of up to 1000 or every 0.5 s: every ClickHouse insert makes a
    # part, so few large inserts beat many small ones (hits do not wait for this).
    passes = op.flat_map("passes", grouped, lambda g: g.passes)
    batched = op.collect("batch_passes", op.key_on("one_key", passes, lambda _: "passes"),
                         timeout=timedelta(milliseconds=500), max_size=1000)
    leads = op.flat_map("leads", grouped, lambda g: g.leads)
    op.output("passes_to_clickhouse", batched, ClickHouseSink(db.connect(cfg), cfg.clickhouse.database, [IMAGES, READS]))

    matches = op.flat_map_batch("hotlist_join", leads, steps.make_hotlist_join_step(store))
    keyed = op.key_on("by_hit_key", matches, lambda m: hit_key(*m))
    window = cfg.flow.hit_suppression_s
    hits = op.stateful_flat_map("first_hit_per_pass", keyed, lambda last, m: suppress_repeats(last, m, window))

    hits = op.map("state_policy", op.map("hit_values", hits, lambda kv: kv[1]), steps.make_state_policy_step(cfg))
    # stored in batches like passes, suppressed ones too (the record of what policy kept from
    # dispatch); publishing to dispatch (the caller) does not wait for this
    stored = op.collect("batch_hits", op.key_on("one_hit_key", hits, lambda h: "hits"),
                        timeout=timedelta(milliseconds=500), max_size=1000)
    op.output("hits_to_clickhouse", stored, ClickHouseSink(db.connect(cfg), cfg.clickhouse.database, [HITS]))
    return op.filter("published_hits", hits, lambda h: not h.suppressed)


def set_up(cfg: Config) -> None:
    """Create missing topics and apply pending schema migrations (both idempotent), so a fresh
    deployment needs no separate step before its first run."""
    kafka.ensure_topics(cfg)
    db.migrate(db.connect(cfg), cfg)


def prepared(cfg: Config) -> Dataflow:
    """The flow of a process about to run it: OpenCV's threads capped, metrics served, Kafka waited
    for, topics and tables set up."""
    # OpenCV's own thread pool (decode, resize) would otherwise use every core in every process;
    # scale out with processes, each as wide as its OCR
    cv2.setNumThreads(cfg.reader.intra_op_threads)
    start_http_server(cfg.flow.metrics_port, addr=cfg.flow.metrics_host)
    retry.wait_until(lambda: kafka.broker_ready(cfg), "Kafka", cfg.kafka.bootstrap_servers)
    set_up(cfg)
    return build(cfg, tail=cfg.flow.tail)


def build_from_env() -> Dataflow:
    """Entry point for ``python -m bytewax.run``: configuration from ALPR_CONFIG and ALPR_* variables."""
    logging.basicConfig(level=os.environ.get("ALPR_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return prepared(config_mod.load())
