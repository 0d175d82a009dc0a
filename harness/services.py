"""Private PostgreSQL and Redis servers that a run may restart or wipe without touching the machine's own."""
from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests


def wait_for_http(url: str, timeout: float = 60.0, interval: float = 0.2) -> bool:
    """Poll `url` until it answers 2xx; False if it never does within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=max(1.0, interval)).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(interval)
    return False


# The kernel's ports for outgoing connections; servers of a run get ports from LOWEST_PORT up to where it starts.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10_000


def free_port() -> int:
    """A port nothing is bound to, for a server about to start. Chosen below the kernel's ephemeral range: a port
    from that range (what binding port 0 gives) can be taken by any outgoing connection of the run before the server
    binds it, which made a stack's web front fail with "Address already in use"."""
    below = _ephemeral_start()
    for _ in range(100):
        port = random.randrange(LOWEST_PORT, below) if below > LOWEST_PORT + 1000 else 0
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError(f"no free port between {LOWEST_PORT} and {below}")


def _ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def wait_for_port(port: int, timeout: float = 30.0, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            is_up = probe.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} still {'down' if up else 'up'} after {timeout}s")


class Postgres:
    """A throwaway cluster owned by the postgres user (initdb refuses root), on its own port."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under the caller's temp dir: pytest's is private to root, and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="vidgate-pg-"))
        shutil.chown(self.dir, "postgres")
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = Path(bins[-1])
        self._as_postgres(self.bin / "initdb", "-D", self.dir / "data", "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c",
                        "CREATE DATABASE vidgate"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/vidgate"

    def url_for(self, database: str) -> str:
        """The URL of another database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create another (empty) database in this cluster; returns its URL."""
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c",
                        f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        return self.url_for(name)

    @property
    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def _as_postgres(self, *args: object) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._as_postgres(self.bin / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "server.log", "-o", options,
                          "-w", "start")

    def stop(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server that keeps nothing on disk, so a restart loses every queued message."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.logs / "redis.log", "ab")  # noqa: SIM115 (lives as long as the server)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction"], stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        wait_for_port(self.port, up=False)

    close = stop


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment minus anything that would point children at the machine's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDGATE_", "DATABASE_URL", "REDIS_URL"))}
    env.update(overrides)
    return env
