"""A throwaway PostgreSQL server for the tests: Debian's postgresql binaries, a cluster under a temp dir, loopback only.

`start()` returns a `Server` (or raises Unavailable with the reason the PostgreSQL half of a test is skipped).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass


class Unavailable(Exception):
    """No PostgreSQL server can be had here: the reason, for pytest.skip."""


@dataclass
class Server:
    port: int
    root: str
    bin_dir: str
    user: str | None

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        _run(self, [os.path.join(self.bin_dir, "pg_ctl"), "-D", os.path.join(self.root, "data"), "-m", "immediate", "stop"],
             check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _bin_dir() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(os.path.realpath(found))
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(server_or_user, cmd: list[str], check: bool = True):
    user = server_or_user.user if isinstance(server_or_user, Server) else server_or_user
    if user:  # PostgreSQL refuses to run as root: run its tools as the postgres user
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)


def start() -> Server:
    try:
        import psycopg
    except ImportError:
        raise Unavailable("psycopg is not installed (pip install -e '.[test]')") from None
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise Unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    user = None
    if os.geteuid() == 0:
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            raise Unavailable("running as root and there is no postgres user to run the server as")
        user = "postgres"
    root = tempfile.mkdtemp(prefix="classroom-pg-")
    if user:
        shutil.chown(root, user)
    server = Server(_free_port(), root, bin_dir, user)
    data = os.path.join(root, "data")
    try:
        _run(user, [os.path.join(bin_dir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        opts = f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root} -c fsync=off"
        _run(user, [os.path.join(bin_dir, "pg_ctl"), "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w", "start"])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"the PostgreSQL server did not start ({getattr(e, 'stderr', '') or e})") from None
    import psycopg

    deadline = time.time() + 20
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return server
        except psycopg.OperationalError:
            if time.time() > deadline:
                server.stop()
                raise Unavailable("the PostgreSQL server started but does not answer") from None
            time.sleep(0.2)
