"""Throw-away PostgreSQL servers of our own: a primary made with `initdb` and streaming replicas
made with `pg_basebackup -R`, each run as the `postgres` OS user through `runuser`.

Shared by `tests/test_replicas.py` (servers on 127.0.0.1) and `bench/cluster.py` (servers in
network namespaces): the machine's shared PostgreSQL allows no replication connections, and
neither tests nor benches change its configuration, so both make their own servers the same way.
`initdb` refuses to run as root, hence `runuser`; the data directories live under one temporary
directory owned by `postgres`, removed by `remove()`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import tree_cpu


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"))
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """Why own PostgreSQL servers cannot be made on this machine, or None when they can."""
    if server_binaries() is None:
        return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
    if shutil.which("runuser") is None or os.geteuid() != 0:
        return "initdb must run as the postgres OS user: needs root and runuser"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres OS user"
    return None


@dataclass
class PgServers:
    """Data directories `base/NAME`, one per server; `prefix` runs a command elsewhere (e.g.
    `ip netns exec NS`), given per call since each server may live in its own namespace."""

    bin: Path
    base: Path

    @classmethod
    def make(cls, prefix: str) -> PgServers:
        """A new temporary base directory owned by `postgres` (the caller checked `missing()`)."""
        bin_dir = server_binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        base = Path(tempfile.mkdtemp(prefix=prefix))
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
        return cls(bin_dir, base)

    def pg(
        self, *args: str, check: bool = True, prefix: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program (`args[0]`, from `bin`) as the postgres OS user."""
        command = [*prefix, "runuser", "-u", "postgres", "--", str(self.bin / args[0]), *args[1:]]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)

    def init_primary(self, name: str, *, trusted_network: str | None = None) -> None:
        """`initdb` a primary that streams WAL to replicas, tuned for throw-away speed (no
        fsync). `trusted_network` (CIDR): hosts there connect and replicate without a password,
        as 127.0.0.1 does."""
        data = self.base / name
        self.pg(
            "initdb",
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("fsync = off\nfull_page_writes = off\nwal_level = replica\n")
        if trusted_network:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {trusted_network} trust\n")
                hba.write(f"host replication all {trusted_network} trust\n")

    def base_backup(self, name: str, host: str, port: int, *, prefix: Sequence[str] = ()) -> None:
        """A streaming replica `name` of the primary at host:port (`pg_basebackup -R`)."""
        self.pg(
            "pg_basebackup",
            "-h",
            host,
            "-p",
            str(port),
            "-U",
            "postgres",
            "-D",
            str(self.base / name),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            prefix=prefix,
        )

    def start(
        self, name: str, port: int, *, listen: str = "127.0.0.1", prefix: Sequence[str] = ()
    ) -> None:
        """Start server `name` and wait until it accepts connections; its log is `NAME/log`."""
        # a socket directory per server: two servers on one port in two namespaces share
        # the file system, and so would share (and fight over) one socket file
        sockets = self.base / f"{name}-sockets"
        sockets.mkdir(exist_ok=True)
        postgres = pwd.getpwnam("postgres")
        os.chown(sockets, postgres.pw_uid, postgres.pw_gid)
        options = f"-p {port} -k {sockets} -c listen_addresses={listen}"
        data = self.base / name
        self.pg(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-w",
            "-o",
            options,
            "start",
            prefix=prefix,
        )

    def stop(self, name: str, mode: str = "fast", *, prefix: Sequence[str] = ()) -> None:
        """Stop server `name` (`immediate`: as a crash would); no error if it is not running."""
        self.pg(
            "pg_ctl",
            "-D",
            str(self.base / name),
            "-m",
            mode,
            "-w",
            "stop",
            check=False,
            prefix=prefix,
        )

    def cpu_seconds(self, name: str) -> float | None:
        """CPU seconds server `name` has spent so far (its postmaster and every backend), or
        None when it is not running."""
        try:
            pid = int((self.base / name / "postmaster.pid").read_text().split()[0])
            return tree_cpu(pid)
        except (OSError, ValueError, IndexError):
            return None

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
