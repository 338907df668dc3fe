"""A PostgreSQL cluster of our own: ``initdb`` + ``pg_ctl`` on a free port, ours to stop.

Never the machine's server: the fault tests stop and restart this one under load. PostgreSQL
refuses to run as root, so as root every ``initdb``/``pg_ctl`` runs as the ``postgres`` OS
user, in a temporary directory that user owns (pytest's own tmp dirs are root-only).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.cluster.harness import restartable_port
from tests.conftest import _require

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
PG_CTL_TIMEOUT_S = 60  # pg_ctl's own -t: generous for a busy 2-core machine
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "log_min_messages": "warning",
}


def _binary(name: str) -> str | None:
    found = PG_BIN / name
    return str(found) if found.is_file() else shutil.which(name)


def unavailable_reason() -> str | None:
    missing = [name for name in ("initdb", "pg_ctl") if _binary(name) is None]
    if missing:
        return f"PostgreSQL binaries not found ({', '.join(missing)}; looked in {PG_BIN})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no {OS_USER!r} OS user to run PostgreSQL"
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, trust auth, on a restartable port."""

    def __init__(self) -> None:
        self.port = restartable_port()
        self.root = Path(tempfile.mkdtemp(prefix="sjfaults-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            owner = pwd.getpwnam(OS_USER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    @property
    def dsn(self) -> str:
        return f"postgresql://{OS_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the instances use."""
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://")

    def _run(self, binary: str, *args: str) -> None:
        executable = _binary(binary)
        assert executable is not None
        command = [executable, *args]
        if self._as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S + 30, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{binary} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", OS_USER, "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        """Returns once the server accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
            "-t", str(PG_CTL_TIMEOUT_S), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every connection is terminated, as when an operator restarts it."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w",
            "-t", str(PG_CTL_TIMEOUT_S), "stop",
        )  # fmt: skip

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """Skipped loudly where PostgreSQL's binaries are missing (a failure with ``CI=true``)."""
    _require(unavailable_reason())
    server = ThrowawayPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
