"""Connected accounts by nickname: stored safely under FLO_HOME, or taken from the
environment variables Twilio's SDKs and CLI use.

Like ssh, flo refuses account files that others could read or that another user owns; it
keeps FLO_HOME at 0700 and locks the store while it changes it. An account's URL parts
(region, edge, base URL) are checked wherever they come from, and loading an account
registers its secrets for redaction.
"""

from __future__ import annotations

import contextlib
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

from flo_twilio.client.urls import check_base_url, check_label
from flo_twilio.errors import AccountError, InvalidInputError, Problem
from flo_twilio.redaction import register_secret

try:
    import fcntl
except ImportError:  # Windows: no flock; the store is then not locked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("flo_twilio.accounts")

NICKNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
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
    """One connected account. ``values`` are the connection fields that are not secret;
    ``secrets`` are loaded on demand and never written anywhere but their store."""

    nickname: str
    connection: str = "twilio"
    values: dict[str, str] = field(default_factory=dict)
    secret_store: str = "file"  # "file", "keyring" or "environment"
    facts: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Register the secrets for redaction the moment the account exists."""
        for name, secret in self.secrets.items():
            if not isinstance(secret, str):
                continue
            username = self.values.get("api_key" if name == "api_secret" else "account_sid")
            register_secret(secret, username=username)

    def connection_values(self) -> dict[str, str]:
        return {**self.values, **self.secrets}

    def public(self) -> dict[str, Any]:
        """What may be shown: never a secret."""
        return {
            "nickname": self.nickname,
            "connection": self.connection,
            **self.values,
            "auth": "api_key" if self.values.get("api_key") else "auth_token",
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


def check_twilio_values(values: Mapping[str, str], secrets: Mapping[str, str]) -> None:
    """Refuse, listing every problem, an account that could not be used safely."""
    problems = value_problems(values)
    if values.get("api_key") and not secrets.get("api_secret"):
        problems.append(
            Problem("an API key needs its secret", hint="--api-secret - and the secret on stdin")
        )
    elif not values.get("api_key") and not secrets.get("auth_token"):
        problems.append(Problem("an Auth Token (or an API key and secret) is required"))
    if problems:
        raise InvalidInputError(problems)


def value_problems(values: Mapping[str, str]) -> list[Problem]:
    """What is wrong with an account's values: SIDs, cap, region, edge and base URL."""
    problems = [Problem(f"{k} must be text") for k, v in values.items() if not isinstance(v, str)]
    values = {k: v for k, v in values.items() if isinstance(v, str)}
    if not ACCOUNT_SID.fullmatch(values.get("account_sid", "")):
        problems.append(
            Problem(
                "the Account SID must be AC followed by 32 hexadecimal characters",
                hint="copy it from the Twilio console's Account Info",
            )
        )
    if values.get("api_key") and not API_KEY_SID.fullmatch(values["api_key"]):
        problems.append(Problem("the API key must be SK followed by 32 hexadecimal characters"))
    cap = values.get("max_in_flight", "1")
    if not cap.isdigit() or int(cap) < 1:
        problems.append(Problem("--max-in-flight must be a whole number of 1 or more"))
    for name in ("region", "edge", "api_base_url"):
        value = values.get(name)
        try:
            if value and name == "api_base_url":
                check_base_url(value)
            elif value:
                check_label(name, value)
        except InvalidInputError as exc:
            problems += exc.problems
    return problems


def from_environment(env: Mapping[str, str] | None = None) -> Account | None:
    """The account described by TWILIO_* environment variables, if any."""
    env = os.environ if env is None else env
    sid = env.get("TWILIO_ACCOUNT_SID")
    if not sid:
        return None
    values = {"account_sid": sid}
    secrets = {}
    if env.get("TWILIO_API_KEY"):
        values["api_key"] = env["TWILIO_API_KEY"]
        secrets["api_secret"] = env.get("TWILIO_API_SECRET", "")
    else:
        secrets["auth_token"] = env.get("TWILIO_AUTH_TOKEN", "")
    for name in ("region", "edge"):
        if env.get(f"TWILIO_{name.upper()}"):
            values[name] = env[f"TWILIO_{name.upper()}"]
    try:
        check_twilio_values(values, secrets)
    except InvalidInputError as exc:
        raise InvalidInputError(
            [Problem(p.message, "TWILIO_* environment variables", p.hint) for p in exc.problems]
        ) from None
    return Account(ENV_NICKNAME, values=values, secret_store="environment", secrets=secrets)


class AccountStore:
    """``accounts.json`` (0600, in a 0700 folder) plus the secrets' store.

    Loading refuses a symlink, a file that others can read or another user owns, as ssh
    does; changes are made under an exclusive lock, so parallel adds lose nothing.
    """

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or flo_home()
        self.path = self.home / "accounts.json"
        self.keyring = real_keyring()

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
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AccountError(
                f"{self.path} is not valid JSON ({exc.msg}); fix or remove it"
            ) from None
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, dict) or not all(
            isinstance(r, dict) and isinstance(r.get("values"), dict) for r in accounts.values()
        ):
            raise AccountError(
                f'{self.path} is not an accounts file (expected {{"accounts": {{NICKNAME: '
                '{"values": {...}, ...}}}); fix or remove it'
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
        problems = value_problems(record["values"])
        if problems:
            raise AccountError(
                f"{self.path}, account {nickname!r}: "
                + "; ".join(map(str, problems))
                + f". Fix it in the file, or: flo accounts remove {nickname} and add it again"
            )
        return Account(
            nickname,
            record.get("connection", "twilio"),
            dict(record["values"]),
            record.get("secret_store", "file"),
            dict(record.get("facts", {})),
            self._load_secrets(nickname, record),
        )

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
    """The account to use: the one named, else TWILIO_* variables, else the stored default.

    None means there is none: the caller falls back to the built-in sandbox.
    """
    if nickname == ENV_NICKNAME:
        account = from_environment()
        if account is None:
            raise AccountError("no TWILIO_ACCOUNT_SID in the environment")
        return account
    store = AccountStore()
    if nickname:
        return store.get(nickname)
    env = from_environment()
    if env is not None:
        return env
    default = store.default()
    return store.get(default) if default else None
