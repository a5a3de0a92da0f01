"""The embedded broker: one Apache Kafka node (KRaft broker and controller) on loopback, as a child process.

`deploy/setup.sh` puts the broker's jars (pinned in `deploy/kafka/pom.xml`) in `WIREWATCH_KAFKA_HOME`; this module
formats a data folder once, writes the node's configuration beside it, starts the JVM with a capped heap and
stops it cleanly. Its data stays on disk, so a second `wirewatch run` continues where the first stopped.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings

_PR_SET_PDEATHSIG = 1
# Written in the data folder by the format step: its presence means "formatted, keep the data".
_FORMATTED = "meta.properties"
_LOG_CONFIG = """\
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def die_with_parent(signal_number: int = signal.SIGTERM) -> None:
    """For `preexec_fn`: the child gets `signal_number` when the process that started it dies."""
    # Linux: the kernel sends it to the child if wirewatch dies, even by SIGKILL: no orphan processes.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal_number)


_GIVEN_PORTS: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now and not given before by this process: the kernel can offer a
    port again before the process it was given to has bound it."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


class BrokerNotInstalled(RuntimeError):
    """The Kafka jars or a Java runtime are missing: `deploy/setup.sh` installs both."""


class EmbeddedBroker:
    """An Apache Kafka node on 127.0.0.1 kept in `node_dir` (its configuration, and its data in `node_dir/data`);
    ports are chosen once per instance, so a restart (after a crash, say) comes back where its clients expect it.

    `config` adds or overrides broker settings (tests shorten the log cleaner's and retention's intervals).
    """

    def __init__(self, node_dir: Path, kafka_home: Path, *, heap_mb: int = 512, log_path: Path | None = None,
                 config: dict[str, str] | None = None) -> None:
        self.node_dir = node_dir
        self.data_dir = node_dir / "data"
        self.kafka_home = kafka_home
        self.heap_mb = heap_mb
        self.log_path = log_path
        self.extra_config = dict(config or {})
        self.port = free_port()
        self.controller_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker setting for this broker (`kafka://127.0.0.1:PORT`)."""
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (benchmarks read its memory), else None."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def exit_code(self) -> int | None:
        """The node's exit code once it has stopped; None while it runs (or before its first start)."""
        return None if self._process is None else self._process.poll()

    @property
    def formatted(self) -> bool:
        """Whether the data folder already holds a formatted node (whose data a start keeps)."""
        return (self.data_dir / _FORMATTED).exists()

    def start(self, timeout: float = 60.0) -> EmbeddedBroker:
        """Format the data folder if it is new, start the node and return once it answers as a broker."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.write_config()
        if not self.formatted:
            self.format(config_path)
        with open(self.log_path or os.devnull, "ab") as log:  # the child keeps its own descriptor
            self._process = self._java("kafka.Kafka", str(config_path), stdout=log)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with code {self._process.returncode} at start; "
                                   f"see {self.log_path or 'its log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the Kafka broker did not answer on port {self.port} within {timeout:.0f} s")
            time.sleep(0.1)
        return self

    def format(self, config_path: Path) -> None:
        """Format the data folder as a new one-node cluster (Kafka's `kafka-storage format`)."""
        self._java("kafka.tools.StorageTool", "format", "--cluster-id", new_cluster_id(), "--config", str(config_path),
                   "--ignore-formatted", wait=True)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node cleanly (SIGTERM: Kafka flushes and closes its logs), SIGKILL after `timeout` s."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def kill(self) -> None:
        """SIGKILL the node, as a crash would (its data folder stays; `start` brings it back)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def write_config(self) -> Path:
        """The node's server.properties and log configuration, written beside its data on every start."""
        listener = f"127.0.0.1:{self.port}"
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://{listener},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{listener}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            # Every wirewatch topic is created explicitly with its partitions and settings.
            "auto.create.topics.enable": "false",
            # One node: internal topics cannot be replicated, and few partitions start faster.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Workers join at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            # After a crash the controller waits out the dead incarnation's session before the node serves again:
            # 3 s instead of 9 (broker and controller share one JVM, so a longer pause would stop both anyway).
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "1000",
            **self.extra_config,
        }
        path = self.node_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in config.items()))
        (self.node_dir / "log4j2.properties").write_text(_LOG_CONFIG)
        return path

    def _java(self, main: str, *args: str, stdout: object = subprocess.DEVNULL,
              wait: bool = False) -> subprocess.Popen[bytes]:
        """Run one of the broker's Java entry points with the jars of `kafka_home`."""
        java = _java_binary()
        libs = self.kafka_home / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerNotInstalled(f"Apache Kafka is not installed in {self.kafka_home}: run `bash deploy/setup.sh` "
                                     "(or set WIREWATCH_KAFKA_HOME)")
        log_config = self.node_dir / "log4j2.properties"
        command = [java, f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 128)}m", "-XX:+UseG1GC",
                   "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                   f"-Dlog4j2.configurationFile={log_config}", "-cp", f"{libs}/*", main, *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE if wait else stdout, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=_java_environment(), preexec_fn=die_with_parent,
                                   start_new_session=True)  # Ctrl-C reaches wirewatch, which stops it last
        if wait:
            output, _ = process.communicate()
            if process.returncode != 0:
                said = [line.strip() for line in output.decode(errors="replace").strip().splitlines()[-3:]]
                raise RuntimeError(f"`{main} {' '.join(args[:1])}` failed with code {process.returncode}: "
                                   + " / ".join(said))
        return process

    def answers(self) -> bool:
        """Whether the node answers metadata requests as a broker; callable from inside an event loop too."""
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever the caller runs
            return thread.submit(asyncio.run, self._answers()).result()

    async def _answers(self) -> bool:
        """Whether the node answers metadata requests as a broker (it accepts connections a little earlier)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False  # not listening yet: asked quietly, where a Kafka client would log every refusal
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=2000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        except (KafkaError, OSError, asyncio.TimeoutError):
            return False
        finally:
            await admin.close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def broker_for(settings: Settings, node_dir: Path, log_path: Path | None = None,
               config: dict[str, str] | None = None) -> EmbeddedBroker:
    """The embedded broker the settings describe (Kafka's install folder, heap), kept in `node_dir`."""
    return EmbeddedBroker(node_dir, settings.kafka_home, heap_mb=settings.broker_heap_mb, log_path=log_path,
                          config=config)


def new_cluster_id() -> str:
    """A new Kafka cluster id: 16 random bytes in URL-safe base64 without padding, as `kafka-storage random-uuid`,
    drawn again when it starts with "-" (one in 64), which the format command would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java_binary() -> str:
    """`$JAVA_HOME/bin/java`, else `java` on the PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        raise BrokerNotInstalled("no Java runtime found (JAVA_HOME or `java` on the PATH): run `bash deploy/setup.sh`")
    return found


def _java_environment() -> dict[str, str]:
    """What the JVM needs of the environment, nothing more (no secrets of wirewatch's settings leak into it)."""
    return {name: os.environ[name] for name in ("PATH", "JAVA_HOME", "HOME", "LANG", "TZ") if name in os.environ}
