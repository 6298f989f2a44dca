"""Prometheus metrics of the read path. Plates never appear as label values."""

from __future__ import annotations

import urllib.request

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

FRAMES = Counter("alpr_frames_total", "Frames decoded and searched for plates", ["camera_id"])
DEAD_LETTERS = Counter("alpr_dead_letters_total", "Messages sent to the dead-letter topic", ["reason"])
PLATES_READ = Counter("alpr_reads_total", "Plate reads produced", ["camera_id"])
HITS = Counter("alpr_hits_total", "Hits published to dispatch", ["list_name", "match"])
HITS_STATE_SUPPRESSED = Counter("alpr_hits_state_suppressed_total",
                                "Hits recorded but kept from dispatch: the read's state surely differs (hits.state_mismatch)",
                                ["list_name"])
STAGE_SECONDS = Histogram(
    "alpr_stage_duration_seconds",
    "Time spent per pipeline stage and frame",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAST_FRAME = Gauge("alpr_camera_last_frame_timestamp_seconds", "Capture time of the newest frame per camera", ["camera_id"])
CLICKHOUSE_ROWS = Counter("alpr_clickhouse_rows_written_total", "Rows inserted into ClickHouse", ["table"])
FRAMES_PUBLISHED = Counter("alpr_frames_published_total", "Frames published by simulator or ingest", ["camera_id"])
HOTLIST_ENTRIES = Gauge("alpr_hotlist_entries", "Entries in each hot list", ["list_name"])
HOTLIST_AGE = Gauge("alpr_hotlist_age_seconds", "Time since each hot list was last refreshed", ["list_name"])
FRAME_TO_HIT = Histogram(
    "alpr_frame_to_hit_seconds",
    "From a frame's capture to its hit leaving for dispatch",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
CLICKHOUSE_BATCH_ROWS = Histogram(
    "alpr_clickhouse_insert_rows", "Rows per ClickHouse insert", ["table"], buckets=(1, 5, 10, 50, 100, 500, 1000, 5000)
)
CLICKHOUSE_ERRORS = Counter("alpr_clickhouse_insert_errors_total", "ClickHouse inserts that failed", ["table"])

# Series that dashboards and alerts expect to exist at zero before the first event.
CLICKHOUSE_ERRORS.labels("reads")
CLICKHOUSE_ROWS.labels("reads")

GROUPS = Counter("alpr_groups_total", "Vehicle passes stored (grouped reads)", ["camera_id"])
PASSES_DROPPED = Counter("alpr_passes_dropped_total",
                         "Vehicle passes not stored: no read reached flow.pass_min_confidence", ["camera_id"])
GROUP_FRAMES = Histogram("alpr_group_frames", "Frames per stored vehicle pass", buckets=(1, 2, 3, 5, 8, 13, 21))

KNOWN_MISREADS = Counter("alpr_hits_known_misread_total",
                        "Hits not raised: dispatch marked the same read a misread recently", ["list_name"])
REPLAYS_SKIPPED = Counter("alpr_kafka_replays_skipped_total", "Messages not sent again after a restart", ["topic"])
RESUME_RESETS = Counter("alpr_kafka_resume_resets_total",
                        "Partitions read again from the start: the broker no longer held the resume offset", ["topic"])

# Dependencies the flow waits for instead of crashing (see alpr.retry).
DEPENDENCY_UP = Gauge("alpr_dependency_up", "1 while the service answers, 0 while the flow waits for it", ["service"])
DEPENDENCY_RETRIES = Counter("alpr_dependency_retries_total", "Calls retried because the service was unavailable",
                             ["service"])

# Access control and audit (the API and CLI processes).
AUDIT_WRITE_FAILURES = Counter("alpr_audit_write_failures_total", "Accesses refused because the audit record could not be written")
ACCESS_DECISIONS = Counter("alpr_access_decisions_total", "Access decisions by action and outcome", ["action", "outcome"])
AUDIT_WRITE_FAILURES.inc(0)


# The dispatch console (policy 820.8), in the API process: how fast hits reach a person and are worked.
HIT_FEED_DELAY = Histogram("alpr_hit_feed_delay_seconds", "Hit on the topic to sent to an open console",
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
HIT_TIME_TO_VIEW = Histogram("alpr_hit_time_to_view_seconds", "Hit on the topic to first shown in a console",
                             buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
HIT_TIME_TO_STEP = Histogram("alpr_hit_time_to_step_seconds", "Hit on the topic to each workflow step",
                             ["action"], buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600))
HIT_STEPS = Counter("alpr_hit_steps_total", "Workflow steps taken on hits (misread ratio: mark_misread over "
                    "mark_misread, confirm_not_misread and verify_visually)", ["action", "camera_id", "list_name"])
HITS_UNTAKEN = Gauge("alpr_hits_untaken", "Hits on the console that nobody has taken a step on")
HIT_OLDEST_UNTAKEN = Gauge("alpr_hit_oldest_untaken_seconds", "Age of the oldest hit nobody has taken (0: none)")


def flow_counters(port: int) -> dict[str, float] | None:
    """Sums of the flow's alpr_* counters by metric name; None while its endpoint is not up."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return None
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("alpr_") and s.name.endswith("_total"):  # Bytewax's own counters keep ticking
                sums[s.name] = sums.get(s.name, 0.0) + s.value
    return sums
