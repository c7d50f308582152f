"""The local services as plain processes: how each is configured, started and probed.

Each `Service` knows its command line, its config files, its port and its health probe;
`pinpipe.local.process` starts and stops them; `pinpipe.local.stack` puts them in order.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pinpipe.local import provision
from pinpipe.local.layout import Layout


@dataclass
class Service:
    name: str
    port: int
    layout: Layout
    depends_on: tuple[str, ...] = ()
    # Credentials reach processes through the environment, never through argv (visible in ps).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log_file(self) -> Path:
        return self.layout.logs / f"{self.name}.log"

    @property
    def data_dir(self) -> Path:
        return self.layout.data / self.name

    def run_as(self) -> str | None:
        return None

    def prepare(self) -> None:
        """Write config files and initialise data; idempotent."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> bool:
        return port_open(self.port)

    def retry_after(self, log_tail: list[str]) -> float | None:
        """Seconds to wait before starting again after an exit during startup, if it is transient."""
        return None


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _java_cmd(libs: Path, main: str, *args: str, heap: str, props: dict[str, str]) -> list[str]:
    return [
        str(provision.java_binary()),
        f"-Xms{heap}", f"-Xmx{heap}",
        "-XX:+UseG1GC", "-Djava.awt.headless=true",
        *(f"-D{k}={val}" for k, val in props.items()),
        "-cp", f"{libs}/*",
        main, *args,
    ]


@dataclass
class ZooKeeper(Service):
    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.layout.conf / "zookeeper"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "zoo.cfg").write_text(
            "\n".join([
                "tickTime=2000",
                f"dataDir={self.data_dir}",
                f"clientPort={self.port}",
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=0",
                "admin.enableServer=false",
                "4lw.commands.whitelist=ruok,srvr,stat",
                "initLimit=5",
                "syncLimit=2",
            ]) + "\n"
        )
        (conf / "logback.xml").write_text(
            '<configuration><appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">'
            "<encoder><pattern>%d{ISO8601} %-5level [%thread] %logger{20} - %msg%n</pattern></encoder>"
            '</appender><root level="INFO"><appender-ref ref="OUT"/></root></configuration>\n'
        )

    def command(self) -> list[str]:
        conf = self.layout.conf / "zookeeper"
        return _java_cmd(
            provision.zookeeper_libs(),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(conf / "zoo.cfg"),
            heap="256m",
            props={"logback.configurationFile": str(conf / "logback.xml"), "zookeeper.jmx.log4j.disable": "true"},
        )

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False


@dataclass
class Kafka(Service):
    zookeeper_port: int = 0
    partitions: int = 3
    session_timeout_ms: int = 6000

    def retry_after(self, log_tail: list[str]) -> float | None:
        # A broker that died without a clean shutdown (kill -9, a reboot) leaves its ephemeral
        # registration in ZooKeeper until that session expires; a broker started before then
        # exits with NodeExists. ZooKeeper drops the registration one session timeout later.
        if any("NodeExistsException" in ln or "/brokers/ids/" in ln and "already exists" in ln for ln in log_tail):
            return self.session_timeout_ms / 1000 + 2
        return None

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.layout.conf / "kafka"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "server.properties").write_text(
            "\n".join([
                "broker.id=0",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                f"log.dirs={self.data_dir}",
                f"zookeeper.connect=127.0.0.1:{self.zookeeper_port}/pinpipe",
                # A broker killed with -9 leaves an ephemeral registration behind; a short session
                # lets the restarted broker register again within seconds.
                f"zookeeper.session.timeout.ms={self.session_timeout_ms}",
                f"num.partitions={self.partitions}",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "min.insync.replicas=1",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=2",
                "num.io.threads=4",
                "log.retention.hours=168",
                "delete.topic.enable=true",
            ]) + "\n"
        )
        (conf / "log4j.properties").write_text(
            "\n".join([
                "log4j.rootLogger=INFO, stdout",
                "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
                "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
                "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
                "log4j.logger.kafka.request.logger=WARN",
                "log4j.logger.kafka.controller=INFO",
                "log4j.logger.state.change.logger=WARN",
                "log4j.logger.kafka.log.LogCleaner=WARN",
            ]) + "\n"
        )

    def command(self) -> list[str]:
        conf = self.layout.conf / "kafka"
        return _java_cmd(
            provision.kafka_libs(),
            "kafka.Kafka",
            str(conf / "server.properties"),
            heap="768m",
            props={"log4j.configuration": f"file:{conf / 'log4j.properties'}", "kafka.logs.dir": str(self.layout.logs)},
        )

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=3000,
                client_id="pinpipe-health",
            )
        except (KafkaError, OSError, ValueError):
            return False
        try:
            brokers = admin.describe_cluster().get("brokers", [])
            return bool(brokers)
        except (KafkaError, OSError, ValueError):
            return False
        finally:
            admin.close()


@dataclass
class MinIO(Service):
    console_port: int = 0

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            str(provision.minio_binary()), "server",
            "--address", f"127.0.0.1:{self.port}",
            "--console-address", f"127.0.0.1:{self.console_port}",
            "--quiet",
            str(self.data_dir),
        ]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/minio/health/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False


@dataclass
class Postgres(Service):
    password_file: Path | None = None
    superuser: str = "pinpipe"

    def run_as(self) -> str | None:
        # PostgreSQL refuses to run as root; Debian's package creates the `postgres` account.
        return "postgres" if os.geteuid() == 0 else None

    @property
    def socket_dir(self) -> Path:
        return self.layout.run / "pg-socket"

    def prepare(self) -> None:
        import pwd
        import subprocess

        bindir = provision.postgres_bindir()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        user = self.run_as()
        owner = pwd.getpwnam(user) if user else None
        if owner:
            os.chown(self.socket_dir, owner.pw_uid, owner.pw_gid)
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        assert self.password_file is not None
        pwfile = self.layout.run / "pg-initdb.pw"
        pwfile.write_text(self.password_file.read_text().strip() + "\n")
        pwfile.chmod(0o600)
        if owner:
            for p in (self.data_dir, pwfile):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        try:
            proc = subprocess.run(
                [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser,
                 f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                 "-E", "UTF8", "--locale=C.UTF-8"],
                capture_output=True, text=True, user=user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            self.log_file.write_text(proc.stdout + proc.stderr)
            raise provision.ProvisionError(f"initdb failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")

    def command(self) -> list[str]:
        return [
            str(provision.postgres_bindir() / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "shared_buffers=256MB",
            "-c", "max_connections=200",
            "-c", "max_wal_size=2GB",
            "-c", "logging_collector=off",
        ]

