"""Grafana dashboards as code, built with Grafana's foundation SDK.

    .venv/bin/python -m dashboards.build        # writes dashboards/*.json

Prometheus panels query the `prometheus` datasource and ClickHouse panels the `clickhouse`
datasource provisioned from infra/grafana/. The tests run every panel's query against a live
Prometheus and chDB, so a panel that shows nothing fails the build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery as PromQuery
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DataTransformerConfig, DynamicConfigValue, Threshold

OUT_DIR = Path(__file__).resolve().parent
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
CLICKHOUSE = DataSourceRef(type_val="grafana-clickhouse-datasource", uid="clickhouse")
DB = "alpr"
# The first step on a hit says whether it was a misread: fixed sites confirm_not_misread, mobile units verify_visually.
FIRST_STEPS = "mark_misread|confirm_not_misread|verify_visually"


@dataclass
class ClickHouseQuery(cogvariants.Dataquery):
    """A SQL target for the Grafana ClickHouse plugin (the SDK ships no builder for it)."""

    sql: str
    ref_id: str = "A"
    table_format: bool = False

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": {"type": CLICKHOUSE.type_val, "uid": CLICKHOUSE.uid},
                "editorType": "sql", "queryType": "table" if self.table_format else "timeseries",
                "format": 1 if self.table_format else 0, "rawSql": self.sql}

    def build(self) -> "ClickHouseQuery":
        return self


def prom(expr: str, legend: str = "", instant: bool = False) -> PromQuery:
    q = PromQuery().expr(expr).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant().format("table")
    return q


def series(title: str, unit: str, *targets, width: int = 12) -> timeseries.Panel:
    p = timeseries.Panel().title(title).unit(unit).datasource(PROMETHEUS).height(8).span(width)
    for t in targets:
        p = p.with_target(t)
    return p


def quantile(q: float, metric: str, by: str = "") -> str:
    return f"histogram_quantile({q}, sum by (le{by}) (rate({metric}_bucket[$__rate_interval])))"


def dispatch(d: Dashboard) -> Dashboard:
    """The dispatch console (policy 820.8), from the API processes: how fast a hit reaches a person and is worked."""
    misread = 'increase(alpr_hit_steps_total{action="mark_misread"}[$__range])'
    first = f'increase(alpr_hit_steps_total{{action=~"{FIRST_STEPS}"}}[$__range])'
    by = "sum by (camera_id, list_name)"
    return (
        d.with_row(Row("Dispatch (policy 820.8)"))
        .with_panel(series("Hit to first shown in a console p50, p99", "s",
                           prom(quantile(0.5, "alpr_hit_time_to_view_seconds"), "p50"),
                           prom(quantile(0.99, "alpr_hit_time_to_view_seconds"), "p99"), width=8))
        .with_panel(series("Hit to sent to open consoles p99 (alert above 1 s)", "s",
                           prom(quantile(0.99, "alpr_hit_feed_delay_seconds"), "p99"), width=8))
        .with_panel(stat.Panel().title("Hits nobody has taken").datasource(PROMETHEUS).height(8).span(4)
                    .thresholds(ThresholdsConfig().steps([Threshold(None, "green"), Threshold(1, "orange")]))
                    .with_target(prom("max(alpr_hits_untaken)", "untaken")))
        .with_panel(stat.Panel().title("Oldest untaken hit (alert above 60 s)").unit("s").datasource(PROMETHEUS)
                    .height(8).span(4)
                    .thresholds(ThresholdsConfig().steps([Threshold(None, "green"), Threshold(60, "red")]))
                    .with_target(prom("max(alpr_hit_oldest_untaken_seconds)", "oldest")))
        .with_panel(series("Hit to each workflow step p90, by step", "s",
                           prom(quantile(0.9, "alpr_hit_time_to_step_seconds", ", action"), "{{action}}")))
        .with_panel(table.Panel().title("Misread ratio by camera and list, over the time range").datasource(PROMETHEUS)
                    .height(8).span(12)
                    .with_target(prom(f"{by} ({misread} or 0 * {first}) / {by} ({first})", instant=True).ref_id("A"))
                    .with_target(prom(f"{by} ({first})", instant=True).ref_id("B"))
                    .with_transformation(DataTransformerConfig("merge", options={}))
                    .with_transformation(DataTransformerConfig("organize", options={"excludeByName": {"Time": True}}))
                    .override_by_name("Value #A", [DynamicConfigValue("displayName", "misread ratio"),
                                                   DynamicConfigValue("unit", "percentunit")])
                    .override_by_name("Value #B", [DynamicConfigValue("displayName", "hits checked"),
                                                   DynamicConfigValue("decimals", 0)]))
    )


def operations() -> Dashboard:
    rate = "$__rate_interval"
    return dispatch(
        Dashboard("ALPR operations").uid("alpr-operations").tags(["alpr"]).refresh("30s").time("now-1h", "now")
        .with_row(Row("Throughput"))
        .with_panel(series("Frames read per second, by camera", "fps",
                           prom(f"sum by (camera_id) (rate(alpr_frames_total[{rate}]))", "{{camera_id}}")))
        .with_panel(series("Plate reads and stored vehicle passes per second", "reqps",
                           prom(f"sum(rate(alpr_reads_total[{rate}]))", "reads"),
                           prom(f"sum(rate(alpr_groups_total[{rate}]))", "passes"),
                           prom(f"sum(rate(alpr_passes_dropped_total[{rate}])) or vector(0)",
                                "passes dropped: no confident read")))
        .with_row(Row("Latency"))
        .with_panel(series("Stage latency p95", "s", prom(
            f"histogram_quantile(0.95, sum by (le, stage) (rate(alpr_stage_duration_seconds_bucket[{rate}])))", "{{stage}}")))
        .with_panel(series("Frame to hit p99", "s", prom(
            f"histogram_quantile(0.99, sum by (le) (rate(alpr_frame_to_hit_seconds_bucket[{rate}])))", "p99")))
        .with_row(Row("Cameras"))
        .with_panel(table.Panel().title("Camera health: seconds since last frame").datasource(PROMETHEUS).height(8).span(12)
                    .with_target(prom("time() - alpr_camera_last_frame_timestamp_seconds", instant=True)))
        .with_panel(series("Hits to dispatch per minute, by list", "short",
                           prom(f"sum by (list_name) (increase(alpr_hits_total[{rate}]))", "{{list_name}}")))
        .with_row(Row("Errors and backlog"))
        .with_panel(series("Dead letters per second, by reason", "reqps",
                           prom(f"sum by (reason) (rate(alpr_dead_letters_total[{rate}]))", "{{reason}}"), width=8))
        .with_panel(series("ClickHouse rows and insert errors per second", "reqps",
                           prom(f"sum(rate(alpr_clickhouse_rows_written_total[{rate}]))", "rows"),
                           prom(f"sum(rate(alpr_clickhouse_insert_errors_total[{rate}]))", "errors"), width=8))
        .with_panel(series("Kafka consumer lag (messages)", "short",
                           prom("sum by (topic) (bytewax_kafka_consumer_lag)", "{{topic}}"), width=8))
    )


def hotlists() -> Dashboard:
    rate = "$__rate_interval"
    return (
        Dashboard("Hot lists").uid("alpr-hotlists").tags(["alpr"]).refresh("1m").time("now-24h", "now")
        .with_panel(stat.Panel().title("Entries per list").datasource(PROMETHEUS).height(6).span(12)
                    .with_target(prom("alpr_hotlist_entries", "{{list_name}}")))
        .with_panel(stat.Panel().title("Hours since refresh (alert above 26)").unit("h").datasource(PROMETHEUS)
                    .height(6).span(12).with_target(prom("alpr_hotlist_age_seconds / 3600", "{{list_name}}")))
        .with_panel(series("Hits by list and match kind", "short",
                           prom(f"sum by (list_name, match) (increase(alpr_hits_total[{rate}]))", "{{list_name}} {{match}}"),
                           prom(f"sum by (list_name) (increase(alpr_hits_state_suppressed_total[{rate}])) or vector(0)",
                                "{{list_name}} kept from dispatch: another state")))
        .with_panel(series("Hot-list lookup latency p95", "s", prom(
            f"histogram_quantile(0.95, sum by (le) (rate(alpr_stage_duration_seconds_bucket{{stage=\"hotlist\"}}[{rate}])))",
            "p95")))
    )


def retention(retention_years: int = 2) -> Dashboard:
    limit_days = 365 * retention_years
    return (
        Dashboard("Data and retention").uid("alpr-data").tags(["alpr"]).refresh("5m").time("now-30d", "now")
        .with_panel(timeseries.Panel().title("Reads per day").datasource(CLICKHOUSE).height(8).span(24)
                    .with_target(ClickHouseQuery(
                        f"SELECT toStartOfDay(captured_at) AS time, count() AS reads FROM {DB}.reads "
                        "WHERE $__timeFilter(captured_at) GROUP BY time ORDER BY time")))
        .with_panel(stat.Panel().title(f"Oldest unheld read, days (limit {limit_days})").datasource(CLICKHOUSE)
                    .height(6).span(8).with_target(ClickHouseQuery(
                        f"SELECT dateDiff('day', min(captured_at), now()) AS oldest_unheld_days, {limit_days} AS limit_days "
                        f"FROM {DB}.reads WHERE hold = 0", table_format=True)))
        .with_panel(stat.Panel().title("Reads on evidence hold").datasource(CLICKHOUSE).height(6).span(8)
                    .with_target(ClickHouseQuery(f"SELECT count() AS held FROM {DB}.reads WHERE hold = 1", table_format=True)))
        .with_panel(table.Panel().title("Reads by camera, last 24 hours").datasource(CLICKHOUSE).height(6).span(8)
                    .with_target(ClickHouseQuery(
                        f"SELECT camera_id, count() AS reads, round(avg(confidence), 3) AS avg_confidence FROM {DB}.reads "
                        "WHERE captured_at >= now() - INTERVAL 1 DAY GROUP BY camera_id ORDER BY camera_id",
                        table_format=True)))
    )


def access() -> Dashboard:
    """From the audit log itself (ClickHouse): the record auditors review, not a sampled metric."""
    data = "action NOT IN ('logon', 'logout', 'session')"
    return (
        Dashboard("Access and audit").uid("alpr-access").tags(["alpr"]).refresh("5m").time("now-7d", "now")
        .with_panel(table.Panel().title("Accesses per user and purpose").datasource(CLICKHOUSE).height(9).span(12)
                    .with_target(ClickHouseQuery(
                        f"SELECT username, organisation, purpose, count() AS accesses, sum(rows) AS rows_returned "
                        f"FROM {DB}.audit_log WHERE $__timeFilter(at) AND outcome = 'allowed' AND {data} "
                        "GROUP BY username, organisation, purpose ORDER BY accesses DESC", table_format=True)))
        .with_panel(table.Panel().title("Denied attempts by user and reason").datasource(CLICKHOUSE).height(9).span(12)
                    .with_target(ClickHouseQuery(
                        f"SELECT username, client_ip, action, reason, count() AS attempts FROM {DB}.audit_log "
                        "WHERE $__timeFilter(at) AND outcome = 'denied' "
                        "GROUP BY username, client_ip, action, reason ORDER BY attempts DESC", table_format=True)))
        .with_panel(timeseries.Panel().title("Access decisions per hour").datasource(CLICKHOUSE).height(8).span(16)
                    .with_target(ClickHouseQuery(
                        f"SELECT toStartOfHour(at) AS time, countIf(outcome = 'allowed') AS allowed, "
                        f"countIf(outcome = 'denied') AS denied, countIf(outcome = 'error') AS errors FROM {DB}.audit_log "
                        "WHERE $__timeFilter(at) GROUP BY time ORDER BY time")))
        .with_panel(stat.Panel().title("LPR accesses without a case number").datasource(CLICKHOUSE).height(8).span(8)
                    .with_target(ClickHouseQuery(
                        f"SELECT count() AS without_case FROM {DB}.audit_log WHERE $__timeFilter(at) "
                        f"AND outcome = 'allowed' AND {data} AND case_id = ''", table_format=True)))
    )


DASHBOARDS = {"alpr-operations": operations, "alpr-hotlists": hotlists, "alpr-data": retention, "alpr-access": access}


def render() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{uid}.json": encoder.encode(make().build()) + "\n" for uid, make in DASHBOARDS.items()}


def queries(dashboard_json: str) -> list[tuple[str, str, str]]:
    """(panel title, datasource uid, query) for every target of a generated dashboard."""
    out = []
    for panel in json.loads(dashboard_json)["panels"]:
        for t in panel.get("targets", []):
            uid = (t.get("datasource") or panel.get("datasource") or {}).get("uid")
            out.append((panel["title"], uid, t.get("expr") or t.get("rawSql")))
    return out


def main() -> None:
    for name, text in render().items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote dashboards/{name}")


if __name__ == "__main__":
    main()
