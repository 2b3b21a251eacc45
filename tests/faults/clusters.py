"""A private PostgreSQL cluster and a private Redis that fault tests stop and restart at will.

PostgreSQL: `initdb` in a temporary folder, the binaries found with `pg_config --bindir`,
run as the `postgres` user when the tests run as root (initdb and postgres refuse root),
listening on a free port of 127.0.0.1 only. Redis: `redis-server` on a free port, nothing
kept on disk. Without the binaries the tests skip with a message, except under CI=true,
where they fail.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..server.conftest import free_port


def missing(what: str) -> None:
    """Skip, or fail under CI, for a binary this machine lacks."""
    message = f"{what} not found; install it to run the fault tests"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class PostgresCluster:
    """A PostgreSQL cluster of its own: `url`, `stop()`, `start()`, `restart()`."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data, self.log = root / "data", root / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._user is not None:
            os.chown(root, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *arguments: str) -> None:
        """Run a PostgreSQL tool; its output goes to a file (a server it starts keeps a pipe open)."""
        user = {"user": self._user.pw_uid, "group": self._user.pw_gid} if self._user else {}
        output = self.root / f"{tool}.out"
        with output.open("wb") as sink:
            code = subprocess.run([str(self.bindir / tool), *arguments], stdout=sink, stderr=subprocess.STDOUT,
                                  cwd=self.root, timeout=120, **user).returncode  # type: ignore[call-overload]
        assert code == 0, f"{tool} failed:\n{output.read_text(errors='replace')}\n{self._tail()}"

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def _server(self) -> list[str]:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        return ["-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60"]

    def start(self) -> None:
        self._run("pg_ctl", *self._server(), "start")

    def stop(self) -> None:
        """A fast shutdown, as an upgrade does: sessions are cut, the data stays."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", *self._server(), "-m", "fast", "restart")

    def running(self) -> bool:
        return _answers(self.port)


class RedisServer:
    """A redis-server of its own, nothing kept on disk: `url`, `stop()`, `start()`."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary, self.root = binary, root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                             "--save", "", "--appendonly", "no", "--dir", str(self.root)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not _answers(self.port):
            assert self.process.poll() is None, (self.root / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.process = None


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started private PostgreSQL cluster, removed after the test."""
    config = shutil.which("pg_config")
    if config is None:
        missing("pg_config (PostgreSQL server binaries)")
    bindir = Path(subprocess.run([config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    if not (bindir / "initdb").exists():
        missing(f"initdb in {bindir}")
    root = Path(tempfile.mkdtemp(prefix="relance-pg-"))  # not under pytest's folder: postgres must reach it
    os.chmod(root, 0o755)
    cluster = PostgresCluster(bindir, root)
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started private redis-server, stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
