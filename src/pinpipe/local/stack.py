"""The one-machine stack: provision, start in order, wait until healthy, initialise, stop.

`up` is idempotent: what already runs healthy is kept, what is missing is started. `down`
stops only what `up` started (pid files naming our state folder) and keeps the data unless
asked to purge it.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinpipe import settings as cfg
from pinpipe.local import process
from pinpipe.local.layout import Layout, default
from pinpipe.local.services import Kafka, MinIO, Postgres, Service, ZooKeeper, port_open

log = logging.getLogger(__name__)

ORDER = ("zookeeper", "kafka", "minio", "postgres")

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A service failed; the message is one line naming the service, the cause and the log."""


@dataclass
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    healthy: bool
    log: Path


@dataclass
class StackInfo:
    state_dir: Path
    services: dict[str, ServiceStatus] = field(default_factory=dict)

    @property
    def kafka_bootstrap(self) -> str:
        return cfg.kafka().bootstrap_servers


def _secrets(layout: Layout) -> dict[str, str]:
    """Credentials generated once into the state folder; never printed, never committed."""
    if layout.secrets_env.is_file():
        values = dict(
            line.split("=", 1) for line in layout.secrets_env.read_text().splitlines() if "=" in line
        )
        if {"PINPIPE_S3_ACCESS_KEY", "PINPIPE_S3_SECRET_KEY", "PINPIPE_PG_PASSWORD"} <= values.keys():
            return values
    values = {
        "PINPIPE_S3_ACCESS_KEY": "pinpipe-" + secrets.token_hex(6),
        "PINPIPE_S3_SECRET_KEY": secrets.token_urlsafe(30),
        "PINPIPE_PG_PASSWORD": secrets.token_urlsafe(24),
    }
    layout.secrets_env.touch(mode=0o600)
    layout.secrets_env.write_text("".join(f"{k}={val}\n" for k, val in values.items()))
    return values


def _write_local_env(layout: Layout, ports: cfg.LocalStackSettings) -> None:
    lines = {
        "PINPIPE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports.kafka_port}",
        "PINPIPE_S3_ENDPOINT": f"http://127.0.0.1:{ports.minio_port}",
        "PINPIPE_PG_HOST": "127.0.0.1",
        "PINPIPE_PG_PORT": str(ports.postgres_port),
        "PINPIPE_PG_DATABASE": "pinterest",
        "PINPIPE_PG_USER": "pinpipe",
    }
    layout.local_env.write_text("".join(f"{k}={val}\n" for k, val in lines.items()))


def services(layout: Layout | None = None) -> dict[str, Service]:
    layout = layout or default()
    ports = cfg.LocalStackSettings()
    secret = _secrets(layout) if layout.root.is_dir() else {}
    pg_password_file = layout.run / "pg-password"
    return {
        "zookeeper": ZooKeeper("zookeeper", ports.zookeeper_port, layout),
        "kafka": Kafka("kafka", ports.kafka_port, layout, depends_on=("zookeeper",),
                       zookeeper_port=ports.zookeeper_port, partitions=cfg.kafka().topic_partitions),
        "minio": MinIO(
            "minio", ports.minio_port, layout, console_port=ports.minio_console_port,
            env={
                "MINIO_ROOT_USER": secret.get("PINPIPE_S3_ACCESS_KEY", ""),
                "MINIO_ROOT_PASSWORD": secret.get("PINPIPE_S3_SECRET_KEY", ""),
                "MINIO_UPDATE": "off",
                "MINIO_BROWSER": "off",
            },
        ),
        "postgres": Postgres("postgres", ports.postgres_port, layout, password_file=pg_password_file),
    }


def _pid(svc: Service) -> int | None:
    return process.read_pid(svc.layout.pid_file(svc.name), str(svc.layout.root))


def _fail(svc: Service, cause: str) -> StackError:
    return StackError(f"{svc.name} failed to start: {cause} (log: {svc.log_file})")


def _last_error(log: Path) -> str:
    lines = [ln.strip() for ln in process.tail(log, 200) if ln.strip()]
    for ln in reversed(lines):
        if any(w in ln for w in ("ERROR", "FATAL", "Exception", "error", "panic")):
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def _start(svc: Service, timeout: float) -> int:
    if port_open(svc.port):
        raise _fail(svc, f"port 127.0.0.1:{svc.port} is already in use by a process that is not ours")
    svc.prepare()
    deadline = time.monotonic() + timeout
    while True:
        log_start = svc.log_file.stat().st_size if svc.log_file.exists() else 0
        proc = process.spawn(
            svc.command(), log_file=svc.log_file, pid_file=svc.layout.pid_file(svc.name),
            env=svc.env, cwd=svc.data_dir, user=svc.run_as(),
        )
        code = _wait_healthy(svc, proc, deadline, timeout)
        if code is None:
            return proc.pid
        process.forget(svc.layout.pid_file(svc.name), proc.pid)
        wait = svc.retry_after(_log_since(svc.log_file, log_start))
        if wait is None or time.monotonic() + wait >= deadline:
            raise _fail(svc, f"exited with code {code}: {_last_error(svc.log_file)}")
        log.info("%s exited during startup (transient: %s); starting again in %.0fs",
                 svc.name, _last_error(svc.log_file), wait)
        time.sleep(wait)


def _wait_healthy(svc: Service, proc: Any, deadline: float, timeout: float) -> int | None:
    """None once `svc` is healthy, or the exit code if it exited first."""
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return code
        if svc.healthy():
            return None
        time.sleep(0.25)
    process.stop(proc.pid, timeout=10)
    raise _fail(svc, f"not healthy after {timeout:.0f}s: {_last_error(svc.log_file)}")


def _log_since(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace").splitlines()[-400:]
    except OSError:
        return []


def _provision(progress: Progress) -> None:
    from pinpipe.local import provision

    progress("resolving ZooKeeper jars")
    provision.zookeeper_libs()
    progress("resolving Kafka jars")
    provision.kafka_libs()
    progress("building MinIO from source (first run only)")
    provision.minio_binary()
    progress("checking PostgreSQL binaries")
    provision.postgres_bindir()
    progress("resolving Spark connector jars")
    provision.spark_connector_jars()


def _init_kafka(port: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", client_id="pinpipe-init")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(t, num_partitions=cfg.kafka().topic_partitions, replication_factor=1,
                     topic_configs={"min.insync.replicas": "1"})
            for t in cfg.TOPICS if t not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def _init_minio() -> None:
    from pinpipe import s3

    client = s3.client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in cfg.BUCKETS:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def _init_postgres(port: int, password: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from pinpipe import db

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="pinpipe", password=password, dbname="postgres")
    try:
        # CREATE DATABASE refuses to run inside a transaction block.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'pinterest'")
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("pinterest")))
    finally:
        conn.close()
    eng = db.engine()
    try:
        db.ensure_schemas(eng)
    finally:
        eng.dispose()


def ensure_up(progress: Progress | None = None, names: Iterable[str] = ORDER) -> list[str]:
    """Bring the stack up; return the names of the services this call started."""
    progress = progress or (lambda _msg: None)
    layout = default()
    layout.create()
    ports = cfg.LocalStackSettings()
    secret = _secrets(layout)
    pw_file = layout.run / "pg-password"
    pw_file.write_text(secret["PINPIPE_PG_PASSWORD"])
    pw_file.chmod(0o600)
    _write_local_env(layout, ports)
    cfg.clear_cache()
    _provision(progress)

    svcs = services(layout)
    started: list[str] = []
    wanted = [n for n in ORDER if n in set(names)]
    for name in wanted:
        svc = svcs[name]
        if _pid(svc) is not None and svc.healthy():
            progress(f"{name} already running")
            continue
        if _pid(svc) is not None:
            # Ours but unhealthy (hung or still starting): give it the start timeout once more.
            deadline = time.monotonic() + ports.start_timeout_s
            while time.monotonic() < deadline and not svc.healthy():
                time.sleep(0.25)
            if svc.healthy():
                continue
            raise _fail(svc, f"running (pid {_pid(svc)}) but not healthy: {_last_error(svc.log_file)}")
        progress(f"starting {name} on 127.0.0.1:{svc.port}")
        _start(svc, ports.start_timeout_s)
        started.append(name)

    progress("creating topics, buckets and schemas")
    inits = {
        "kafka": lambda: _init_kafka(ports.kafka_port),
        "minio": _init_minio,
        "postgres": lambda: _init_postgres(ports.postgres_port, secret["PINPIPE_PG_PASSWORD"]),
    }
    for name in wanted:
        try:
            inits[name]() if name in inits else None
        except Exception as exc:
            raise StackError(
                f"{name} initialisation failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                f" (log: {svcs[name].log_file})"
            ) from exc
    _init_airflow(progress)
    return started


def _init_airflow(progress: Progress) -> None:
    from pinpipe.local import airflow

    ensure_ready = getattr(airflow, "ensure_ready", None)
    if ensure_ready is not None:
        progress("preparing Airflow (db migrate, first run only)")
        ensure_ready()


def stop_service(name: str, timeout: float = 60.0) -> bool:
    """Stop one service of ours (tests use this to simulate an outage)."""
    svc = services()[name]
    pid = _pid(svc)
    if pid is None:
        return False
    process.stop(pid, timeout=timeout)
    process.forget(svc.layout.pid_file(name), pid)
    return True


def start_service(name: str) -> None:
    svc = services()[name]
    if _pid(svc) is not None and svc.healthy():
        return
    _start(svc, cfg.LocalStackSettings().start_timeout_s)


def kill_service(name: str) -> bool:
    """SIGKILL one service of ours: a crash, not a shutdown."""
    import signal

    svc = services()[name]
    pid = _pid(svc)
    if pid is None:
        return False
    process.stop(pid, timeout=5, sig=signal.SIGKILL)
    process.forget(svc.layout.pid_file(name), pid)
    return True


def down(only: Iterable[str] | None = None, purge: bool = False, progress: Progress | None = None) -> list[str]:
    progress = progress or (lambda _msg: None)
    layout = default()
    if not layout.root.is_dir():
        return []
    svcs = services(layout)
    names = [n for n in reversed(ORDER) if only is None or n in set(only)]
    stopped = []
    for name in names:
        pid = _pid(svcs[name])
        if pid is None:
            continue
        progress(f"stopping {name} (pid {pid})")
        process.stop(pid, timeout=60)
        process.forget(layout.pid_file(name), pid)
        stopped.append(name)
    if purge and only is None:
        progress(f"removing {layout.root}")
        shutil.rmtree(layout.root, ignore_errors=True)
    return stopped


def info() -> StackInfo:
    layout = default()
    result = StackInfo(state_dir=layout.root)
    if not layout.root.is_dir():
        return result
    for name, svc in services(layout).items():
        pid = _pid(svc)
        result.services[name] = ServiceStatus(
            name=name, port=svc.port, pid=pid, healthy=pid is not None and svc.healthy(), log=svc.log_file,
        )
    return result


def keep_running_after_tests() -> bool:
    """Tests leave a stack they started running only when the developer asks for it."""
    return cfg.LocalStackSettings().keep_running
