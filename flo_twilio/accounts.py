"""Connected accounts by nickname: stored safely under FLO_HOME, or taken from the
environment variables Twilio's SDKs and CLI use.

Like ssh, flo refuses account files that others could read or that another user owns; it
keeps FLO_HOME at 0700 and locks the store while it changes it. An account's URL parts
(region, edge, base URL) are checked wherever they come from, and loading an account
registers its secrets for redaction.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.connection import ConnectionType
from flo_twilio.errors import AccountError, InvalidInputError, Problem
from flo_twilio.redaction import register_secret

try:
    import fcntl
except ImportError:  # Windows: no flock; the store is then not locked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("flo_twilio.accounts")

NICKNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KEYRING_SERVICE = "flo-twilio"
ENV_NICKNAME = "env"


def flo_home() -> Path:
    """FLO_HOME, or the platform's user config folder for flo."""
    configured = os.environ.get("FLO_HOME")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("flo"))


def _check_owner(path: Path, info: os.stat_result) -> None:
    """Refuse what another user owns (root excepted), as ssh does."""
    if hasattr(os, "getuid") and info.st_uid not in (os.getuid(), 0):
        raise AccountError(
            f"{path} belongs to another user (uid {info.st_uid}); refusing to use it. "
            "Use a FLO_HOME of your own, or move the file away."
        )


def secure_home(home: Path | None = None) -> Path:
    """FLO_HOME (or ``home``), created 0700 if missing, checked to be ours and made 0700 if
    others could use it. Everything flo creates there is 0600."""
    home = home or flo_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = home.stat()
    _check_owner(home, info)
    if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
        log.warning(
            "%s was open to other users (mode %o); made it 0700", home, info.st_mode & 0o777
        )
        os.chmod(home, 0o700)
    return home


@dataclass
class Account:
    """One connected account of a connection type (``connection``, e.g. "twilio").
    ``values`` are its fields that are not secret; ``secrets`` are loaded on demand and
    never written anywhere but their store."""

    nickname: str
    connection: str
    values: dict[str, str] = field(default_factory=dict)
    secret_store: str = "file"  # "file", "keyring" or "environment"
    facts: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Register the secrets for redaction the moment the account exists."""
        for secret in self.secrets.values():
            if isinstance(secret, str):
                register_secret(secret)

    def connection_values(self) -> dict[str, str]:
        return {**self.values, **self.secrets}

    def public(self, kind: ConnectionType[Any]) -> dict[str, Any]:
        """What may be shown (``kind`` is its connection type): never a secret."""
        return {
            "nickname": self.nickname,
            "connection": self.connection,
            **self.values,
            **kind.describe(self.values),
            "secret_kept_in": self.secret_store,
            **{k: v for k, v in self.facts.items() if v is not None},
        }


def check_nickname(nickname: str) -> str:
    if not NICKNAME.fullmatch(nickname):
        raise InvalidInputError(
            [
                Problem(
                    f"{nickname!r} is not a valid nickname",
                    hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                )
            ]
        )
    return nickname


def connection_types() -> dict[str, ConnectionType[Any]]:
    """The connection types the installed plugins provide, by name."""
    from flo_twilio.plugins import load_registry

    return load_registry().connections


def from_environment(
    env: Mapping[str, str] | None = None,
    connections: Mapping[str, ConnectionType[Any]] | None = None,
) -> Account | None:
    """The account the environment describes (e.g. TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN), if any: the first connection type whose always-required fields'
    variables are set, with every field whose variable is set."""
    env = os.environ if env is None else env
    for kind in (connection_types() if connections is None else connections).values():
        named = [f for f in kind.fields if f.env and env.get(f.env)]
        if not named or not all(f in named for f in kind.fields if f.required and f.env):
            continue
        given = {f.name: env[f.env] for f in named}
        problems = kind.problems(given)
        if problems:
            envs = [f.env for f in kind.fields if f.env]
            prefix = os.path.commonprefix(envs)  # noqa: RUF071 - text, e.g. TWILIO_
            where = f"{prefix}* environment variables" if prefix.endswith("_") else "environment"
            raise InvalidInputError([Problem(p.message, where, p.hint) for p in problems])
        secrets = {k: v for k, v in given.items() if kind.field(k).secret}
        values = {k: v for k, v in given.items() if k not in secrets}
        return Account(ENV_NICKNAME, kind.name, values, "environment", secrets=secrets)
    return None


class AccountStore:
    """``accounts.json`` (0600, in a 0700 folder) plus the secrets' store.

    Loading refuses a symlink, a file that others can read or another user owns, as ssh
    does; changes are made under an exclusive lock, so parallel adds lose nothing.
    """

    def __init__(
        self,
        home: Path | None = None,
        connections: Mapping[str, ConnectionType[Any]] | None = None,
    ) -> None:
        self.home = home or flo_home()
        self.path = self.home / "accounts.json"
        self._connections = connections

    @functools.cached_property
    def keyring(self) -> Any:
        """The OS keyring, looked for only when a secret is read from or written to it
        (finding its backends takes a fifth of a second)."""
        return real_keyring()

    # Reading.

    def _read(self) -> dict[str, Any]:
        if not self.path.exists() and not self.path.is_symlink():
            return {"default": None, "accounts": {}}
        info = os.lstat(self.path)
        if stat.S_ISLNK(info.st_mode):
            raise AccountError(
                f"{self.path} is a symlink; refusing to read it. Replace it with the file itself."
            )
        _check_owner(self.path, info)
        secure_home(self.home)
        if info.st_mode & 0o077:
            raise AccountError(
                f"{self.path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}); "
                f"refusing to use it. Fix it with: chmod 600 {self.path}"
            )
        raw = self.path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise AccountError(
                f"{self.path} is not UTF-8 (byte 0x{raw[exc.start]:02X} at offset {exc.start}); "
                "fix or remove it"
            ) from None
        except json.JSONDecodeError as exc:
            raise AccountError(
                f"{self.path} is not valid JSON ({exc.msg}); fix or remove it"
            ) from None
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, dict) or not all(
            isinstance(r, dict)
            and isinstance(r.get("connection"), str)
            and isinstance(r.get("values"), dict)
            for r in accounts.values()
        ):
            raise AccountError(
                f'{self.path} is not an accounts file (expected {{"accounts": {{NICKNAME: '
                '{"connection": TYPE, "values": {...}, ...}}}); fix or remove it'
            )
        if not isinstance(data.get("default"), str | None):
            raise AccountError(
                f'{self.path}: "default" is {json.dumps(data["default"])[:40]}, not a nickname; '
                'fix it ("default": "NICKNAME", or null)'
            )
        return data

    def nicknames(self) -> list[str]:
        return sorted(self._read()["accounts"])

    def default(self) -> str | None:
        return self._read().get("default")

    def get(self, nickname: str) -> Account:
        data = self._read()
        record = data["accounts"].get(nickname)
        if record is None:
            known = ", ".join(sorted(data["accounts"])) or "none yet"
            raise AccountError(
                f"no account called {nickname!r} (known: {known}); add it with: flo accounts add {nickname}"
            )
        secrets = self._load_secrets(nickname, record)
        problems = self._problems(record, secrets)
        if problems:
            raise AccountError(
                f"{self.path}, account {nickname!r}: "
                + "; ".join(map(str, problems))
                + f". Fix it in the file, or: flo accounts remove {nickname} and add it again"
            )
        return Account(
            nickname,
            record["connection"],
            dict(record["values"]),
            record.get("secret_store", "file"),
            dict(record.get("facts", {})),
            secrets,
        )

    def _problems(self, record: Mapping[str, Any], secrets: Mapping[str, str]) -> list[Problem]:
        """What is wrong with a stored account, as its connection type sees it."""
        if self._connections is None:
            self._connections = connection_types()
        kind = self._connections.get(record["connection"])
        if kind is None:
            installed = ", ".join(sorted(self._connections)) or "none"
            return [
                Problem(
                    f"its connection type {record['connection']!r} is not installed (installed: {installed})"
                )
            ]
        return kind.problems({**record["values"], **secrets})

    def _load_secrets(self, nickname: str, record: Mapping[str, Any]) -> dict[str, str]:
        if record.get("secret_store") == "keyring":
            if self.keyring is None:
                raise AccountError(
                    f"the secret of {nickname!r} is in the OS keyring, which is not available now"
                )
            found = {
                name: self.keyring.get_password(KEYRING_SERVICE, f"{nickname}:{name}")
                for name in record.get("secret_names", [])
            }
            return {k: v for k, v in found.items() if v is not None}
        return dict(record.get("secrets", {}))

    # Writing.

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        """The store's data to change; written back when the block ends without error.
        FLO_HOME is locked meanwhile (flock on the folder itself: no lock file)."""
        with _locked(secure_home(self.home)):
            data = self._read()
            yield data
            self._write(data)

    def save(self, account: Account, make_default: bool = False) -> None:
        record: dict[str, Any] = {
            "connection": account.connection,
            "values": account.values,
            "facts": account.facts,
            "secret_names": sorted(account.secrets),
        }
        if self.keyring is not None:
            for name, value in account.secrets.items():
                self.keyring.set_password(KEYRING_SERVICE, f"{account.nickname}:{name}", value)
            record["secret_store"] = account.secret_store = "keyring"
        else:
            record["secret_store"] = account.secret_store = "file"
            record["secrets"] = account.secrets
        with self._changing() as data:
            data["accounts"][account.nickname] = record
            if make_default or not data.get("default"):
                data["default"] = account.nickname

    def remove(self, nickname: str) -> None:
        with self._changing() as data:
            record = data["accounts"].pop(nickname, None)
            if record is None:
                raise AccountError(f"no account called {nickname!r}")
            if record.get("secret_store") == "keyring" and self.keyring is not None:
                for name in record.get("secret_names", []):
                    with contextlib.suppress(Exception):
                        self.keyring.delete_password(KEYRING_SERVICE, f"{nickname}:{name}")
            if data.get("default") == nickname:
                data["default"] = next(iter(sorted(data["accounts"])), None)

    def set_default(self, nickname: str) -> None:
        with self._changing() as data:
            if nickname not in data["accounts"]:
                raise AccountError(f"no account called {nickname!r}")
            data["default"] = nickname

    def _write(self, data: Mapping[str, Any]) -> None:
        """Atomically: a 0600 temporary file in the same 0700 folder, then rename."""
        fd, tmp = tempfile.mkstemp(dir=self.home, prefix=".accounts.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp makes it 0600
                json.dump(data, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` for the block (flock on the folder itself)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def real_keyring() -> Any:
    """The OS keyring when a real backend is there (not the fail or null ones), else None."""
    if os.environ.get("FLO_NO_KEYRING"):
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return keyring


def resolve_account(nickname: str | None = None) -> Account | None:
    """The account to use: the one named, else the environment's (e.g. TWILIO_* variables),
    else the stored default.

    None means there is none: the caller falls back to the built-in sandbox.
    """
    connections = connection_types()
    if nickname == ENV_NICKNAME:
        account = from_environment(connections=connections)
        if account is None:
            wanted = [
                f.env for kind in connections.values() for f in kind.fields if f.required and f.env
            ]
            raise AccountError(f"no account in the environment (set {' or '.join(wanted)})")
        return account
    store = AccountStore(connections=connections)
    if nickname:
        return store.get(nickname)
    env = from_environment(connections=connections)
    if env is not None:
        return env
    default = store.default()
    return store.get(default) if default else None
