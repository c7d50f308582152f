"""The local stack's real services, each proven by a round trip, and its lifecycle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinpipe.local import process, roundtrip, stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PINPIPE = [sys.executable, "-m", "pinpipe"]


def test_kafka_produce_consume(local_stack):
    assert "produced and consumed" in roundtrip.kafka_roundtrip()


def test_minio_put_get_list(local_stack):
    assert "put, got and listed" in roundtrip.minio_roundtrip()


def test_postgres_sql_roundtrip_and_schemas(local_stack):
    assert roundtrip.postgres_roundtrip().endswith("4/4 schemas present")


def test_spark_reads_kafka_writes_s3a_and_jdbc(spark_s3):
    assert "read back identical" in roundtrip.spark_roundtrip(spark_s3)


def test_topics_have_explicit_partitions(local_stack):
    from kafka import KafkaConsumer

    from pinpipe import settings as cfg

    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka().bootstrap_servers)
    try:
        for topic in cfg.TOPICS:
            assert len(consumer.partitions_for_topic(topic) or ()) == cfg.kafka().topic_partitions
    finally:
        consumer.close()


def test_status_shows_every_service_healthy_with_port_and_pid(local_stack):
    info = stack.info()
    assert set(info.services) == set(stack.ORDER)
    for svc in info.services.values():
        assert svc.healthy, svc
        assert svc.pid and svc.port
    out = subprocess.run([*PINPIPE, "local", "status"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    for name in stack.ORDER:
        assert name in out.stdout


def test_second_up_is_idempotent_and_fast(local_stack):
    before = {n: s.pid for n, s in stack.info().services.items()}
    started_at = time.monotonic()
    started = stack.ensure_up()
    elapsed = time.monotonic() - started_at
    assert started == []
    assert {n: s.pid for n, s in stack.info().services.items()} == before
    assert elapsed < 30, f"a warm `up` took {elapsed:.1f}s"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_processes(marker: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmd and int(p.name) != os.getpid():
                pids.append(int(p.name))
    return pids


@pytest.fixture
def scratch_state():
    """A second state folder for a throw-away stack. Not under /tmp: pytest's tmp dirs are
    private to root, and PostgreSQL runs as the `postgres` account."""
    import shutil
    import uuid

    from pinpipe import settings as cfg

    path = cfg.state_dir() / "test-stacks" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    path.parent.chmod(0o755)
    yield path
    for pid in _own_processes(str(path)):
        process.stop(pid, timeout=10, sig=signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


def _isolated_env(state: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env["PINPIPE_STATE_DIR"] = str(state)
    for key, value in ports.items():
        env[f"PINPIPE_LOCAL_{key.upper()}"] = str(value)
    return env


def test_port_taken_gives_one_line_cause_and_log_path(scratch_state):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        env = _isolated_env(scratch_state, zookeeper_port=taken, kafka_port=_free_port(),
                            minio_port=_free_port(), minio_console_port=_free_port(), postgres_port=_free_port())
        out = subprocess.run([*PINPIPE, "local", "up"], capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=600)
    finally:
        blocker.close()
    assert out.returncode == 1
    error = [ln for ln in out.stderr.splitlines() if "error:" in ln]
    assert len(error) == 1, out.stderr
    assert f"zookeeper failed to start: port 127.0.0.1:{taken} is already in use" in error[0]
    assert str(scratch_state / "logs" / "zookeeper.log") in out.stderr.replace("\n", "")
    assert _own_processes(str(scratch_state)) == []


def test_up_status_down_leaves_nothing_behind(scratch_state):
    state = scratch_state
    env = _isolated_env(state, zookeeper_port=_free_port(), kafka_port=_free_port(), minio_port=_free_port(),
                        minio_console_port=_free_port(), postgres_port=_free_port())
    try:
        up = subprocess.run([*PINPIPE, "local", "up"], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
        assert up.returncode == 0, up.stderr[-2000:]
        assert len(_own_processes(str(state))) >= 4
        again = subprocess.run([*PINPIPE, "local", "up"], capture_output=True, text=True, env=env, cwd=REPO,
                               timeout=600)
        assert again.returncode == 0 and "all already running" in again.stderr
        # A crash of ZooKeeper and Kafka together (a reboot, kill -9) leaves the broker's
        # registration in ZooKeeper's snapshot; `up` waits it out instead of failing.
        for name in ("kafka", "zookeeper"):
            os.kill(int((state / "run" / f"{name}.pid").read_text()), signal.SIGKILL)
        time.sleep(1)
        crashed = subprocess.run([*PINPIPE, "local", "up"], capture_output=True, text=True, env=env, cwd=REPO,
                                 timeout=600)
        assert crashed.returncode == 0, crashed.stderr[-2000:]
        status = subprocess.run([*PINPIPE, "local", "status"], capture_output=True, text=True, env=env, cwd=REPO)
        assert status.returncode == 0
        assert status.stdout.count("healthy") == 4
        down = subprocess.run([*PINPIPE, "local", "down"], capture_output=True, text=True, env=env, cwd=REPO,
                              timeout=300)
        assert down.returncode == 0, down.stderr
        assert _own_processes(str(state)) == []
        assert (state / "data" / "postgres" / "PG_VERSION").is_file(), "down keeps data without --purge"
        assert (state / "secrets.env").stat().st_mode & 0o077 == 0
    finally:
        subprocess.run([*PINPIPE, "local", "down"], capture_output=True, env=env, cwd=REPO, timeout=300)
