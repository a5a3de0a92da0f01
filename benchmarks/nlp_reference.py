"""The reference the stage benchmarks measure against in the same run: warm processes running plain `nlp.pipe`
with the tag stage's model and pipes over their shares of the same texts."""
from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from agents.tag.model import load_ner
from benchmarks.procfs import peak_rss_mib
from benchmarks.tag_throughput import plain_pipe
from streams.settings import Settings

TIMEOUT = 900.0  # seconds a reference process may take to answer: a pass over a few thousand wires on a busy core


def reference_process(model: str, batch_size: int, parent: Connection) -> None:
    """Get the shares, load and warm up the model; per request, `plain_pipe` a share and answer CPU s and peak RSS."""
    shares, warmup = parent.recv()
    nlp = load_ner(model)
    plain_pipe(nlp, warmup, batch_size)
    parent.send(None)
    for name in iter(parent.recv, None):
        started = time.process_time()
        plain_pipe(nlp, shares[name], batch_size)
        parent.send((time.process_time() - started, peak_rss_mib(os.getpid())))


class ReferencePool:
    """N warm reference processes that time plain `nlp.pipe` over their shares of a stream, in the same run."""

    def __init__(self, count: int, settings: Settings, texts: dict[str, list[str]], warmup: list[str]) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter that loads its own model, as a worker
        self.processes: list[BaseProcess] = []
        self.connections: list[Connection] = []
        for number in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=reference_process, daemon=True,
                                      args=(settings.spacy_model, settings.tag_batch_size, theirs))
            process.start()
            theirs.close()  # the child has its own copy: when it dies, our end sees it
            # Texts go through the pipe, not as arguments: a child that dies at start fails this send, not hangs it.
            ours.send(({name: t[number::count] for name, t in texts.items()}, warmup))
            self.processes.append(process)
            self.connections.append(ours)
        self._replies()
        self.peaks = [0.0] * count  # VmHWM of each, MiB, as of its last job

    def __enter__(self) -> ReferencePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for connection, process in zip(self.connections, self.processes):
            if process.is_alive():
                connection.send(None)
            process.join(timeout=20)
            process.terminate()  # a no-op for one that has exited

    def seconds(self, name: str) -> tuple[float, float]:
        """Wall seconds from telling every process to pipe its share of stream `name` until all are done; CPU s."""
        started = time.perf_counter()
        for connection in self.connections:
            connection.send(name)
        cpu, peaks = zip(*self._replies())
        self.peaks = list(peaks)  # VmHWM only grows: the latest reply is the peak so far
        return time.perf_counter() - started, sum(cpu)

    def _replies(self) -> list[Any]:
        """One reply from every process; exits when one stays silent for TIMEOUT (EOFError when one died)."""
        for number, connection in enumerate(self.connections):
            if not connection.poll(TIMEOUT):
                raise SystemExit(f"reference process {number + 1} gave no answer in {TIMEOUT:.0f} s")
        return [connection.recv() for connection in self.connections]
