"""Which file system holds a folder: SQLite's write-ahead log, which keeps the journal's
intents safe, shares memory between the processes using it, so they must all be on one
machine; on a network file system it does not work (https://sqlite.org/wal.html)."""

from __future__ import annotations

import re
from pathlib import Path

MOUNTS = Path("/proc/self/mounts")
NETWORK = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs", "lustre",
    "gpfs", "beegfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs",
}  # fmt: skip


def file_system(folder: Path) -> str:
    """The type of the file system holding ``folder`` ("" where this system does not say)."""
    try:
        lines = MOUNTS.read_text().splitlines()
    except OSError:
        return ""
    target, longest, kind = str(folder.resolve()), "", ""
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda octal: chr(int(octal[1], 8)), fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(longest):
            longest, kind = point, fields[2]
    return kind


def on_network(folder: Path) -> str:
    """The network file system holding ``folder``, or ""."""
    kind = file_system(folder)
    return kind if kind in NETWORK else ""
