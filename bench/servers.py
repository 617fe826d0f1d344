"""Gunicorn servers for the benchmark: started on a free loopback port, ready when a path answers, stopped by pid."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The same settings for the baselines and for Startline's pages: two sync workers (gunicorn's default
# worker, one request at a time each), no access log, loopback only. The spike also measures other models.
WORKERS = 2
WORKER_CLASS = "sync"


@dataclass(frozen=True)
class Model:
    """A gunicorn worker model: `sync`, `gthread` (with threads) or `gevent` (with worker connections)."""

    worker_class: str = WORKER_CLASS
    workers: int = WORKERS
    threads: int = 1

    @property
    def name(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread {self.workers}×{self.threads}"
        return f"{self.worker_class} {self.workers}"

    def flags(self) -> list[str]:
        flags = ["--workers", str(self.workers), "--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            flags += ["--threads", str(self.threads)]
        if self.worker_class == "gevent":
            flags += ["--worker-connections", "100"]
        return flags

    @classmethod
    def parse(cls, text: str) -> Model:
        """"sync", "gthread:8" (two workers of 8 threads), "gthread:3x8" (three workers of 8 threads), "gevent"."""
        kind, _, threads = text.strip().partition(":")
        if kind not in ("sync", "gthread", "gevent"):
            raise ValueError(f"unknown worker model {text!r}: sync, gthread:N, gthread:WxN or gevent")
        workers, _, per_worker = threads.rpartition("x")
        return cls(kind, int(workers or WORKERS), int(per_worker or 1) if kind == "gthread" else 1)


def procfile_model(procfile: Path = ROOT / "Procfile") -> Model:
    """The worker model of the Procfile's web line (gunicorn runs gthread when --threads > 1)."""
    web = next((line for line in procfile.read_text().splitlines() if line.startswith("web:")), "")
    kind = re.search(r"--worker-class[ =](\S+)", web)
    threads = re.search(r"--threads[ =](\d+)", web)
    n = int(threads[1]) if threads else 1
    worker_class = kind[1] if kind else ("gthread" if n > 1 else "sync")
    return Model(worker_class, WORKERS, n if worker_class == "gthread" else 1)


def own_cpus(count: int) -> list[int] | None:
    """`count` CPUs this process may use, one for each instance to pin to; None when there are fewer, or no `taskset`."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[:count] if len(cpus) >= count and shutil.which("taskset") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn <app>` with the benchmark's settings, its output kept in a log file."""

    def __init__(self, app: str, port: int, env: dict[str, str], log_path: Path, model: Model | None = None,
                 cpu: int | None = None):
        """`cpu`: the one CPU its master and workers may run on (`taskset`), as if it were a machine of its own."""
        self.app, self.port, self.env, self.log_path = app, port, env, log_path
        self.model = model or Model()
        self.cpu = cpu
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        pinned = ["taskset", "--cpu-list", str(self.cpu)] if self.cpu is not None else []
        return [*pinned, sys.executable, "-m", "gunicorn", *self.model.flags(),
                "--bind", f"127.0.0.1:{self.port}", "--chdir", str(ROOT), "--timeout", "60",
                "--graceful-timeout", "5", "--log-level", "warning", self.app]

    def start(self) -> Gunicorn:
        log = self.log_path.open("w")
        # A session of its own: Ctrl-C reaches only us, and we stop the server in `finally`.
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        return self

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.app} did not answer {path} within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the master (it stops its workers); SIGKILL to its process group if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group start_new_session made
            self.process.wait(timeout=5)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
