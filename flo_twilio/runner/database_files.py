"""A database file flo keeps (the journal, ``flo serve``'s events), checked before SQLite
opens it: a folder, or a file that is not an SQLite database, is refused with what to do."""

from __future__ import annotations

from pathlib import Path

from flo_twilio.errors import InvalidInputError, Problem

HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database


def check_database_file(path: Path, what: str) -> None:
    """Refuse ``path`` (``what`` it holds, e.g. "the journal") unless it is absent, empty,
    or an SQLite database."""
    if path.is_dir():
        raise InvalidInputError(
            [
                Problem(
                    f"{path} is a folder, where flo keeps {what}",
                    hint="remove or rename it, or set FLO_HOME to another folder",
                )
            ]
        )
    try:
        with path.open("rb") as file:
            start = file.read(len(HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidInputError(
            [Problem(f"cannot read {what} {path}: {exc.strerror}", hint="check its permissions")]
        ) from None
    if start and start != HEADER:
        raise InvalidInputError(
            [
                Problem(
                    f"{path} is not an SQLite database, so not {what}",
                    hint=f"put back a copy if you kept one, or move it aside with "
                    f"mv {path} {path}.broken and flo starts a new one",
                )
            ]
        )
