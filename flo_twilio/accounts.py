"""Connected accounts by nickname: stored safely under FLO_HOME, or taken from the
environment variables Twilio's SDKs and CLI use."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.errors import AccountError, InvalidInputError, Problem

NICKNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
KEYRING_SERVICE = "flo-twilio"
ENV_NICKNAME = "env"


def flo_home() -> Path:
    """FLO_HOME, or the platform's user config folder for flo."""
    configured = os.environ.get("FLO_HOME")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("flo"))


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
    if not NICKNAME.match(nickname):
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
    problems = []
    if not ACCOUNT_SID.match(values.get("account_sid", "")):
        problems.append(
            Problem(
                "the Account SID must be AC followed by 32 hexadecimal characters",
                hint="copy it from the Twilio console's Account Info",
            )
        )
    if values.get("api_key"):
        if not API_KEY_SID.match(values["api_key"]):
            problems.append(Problem("the API key must be SK followed by 32 hexadecimal characters"))
        if not secrets.get("api_secret"):
            problems.append(
                Problem(
                    "an API key needs its secret", hint="--api-secret - and the secret on stdin"
                )
            )
    elif not secrets.get("auth_token"):
        problems.append(Problem("an Auth Token (or an API key and secret) is required"))
    cap = values.get("max_in_flight", "1")
    if not cap.isdigit() or int(cap) < 1:
        problems.append(Problem("--max-in-flight must be a whole number of 1 or more"))
    if problems:
        raise InvalidInputError(problems)


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
    check_twilio_values(values, secrets)
    return Account(ENV_NICKNAME, values=values, secret_store="environment", secrets=secrets)


class AccountStore:
    """``accounts.json`` (0600, in a 0700 folder) plus the secrets' store.

    Loading refuses a symlink or a file that others can read, as ssh does.
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
        if info.st_mode & 0o077:
            raise AccountError(
                f"{self.path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}); "
                f"refusing to use it. Fix it with: chmod 600 {self.path}"
            )
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AccountError(
                f"{self.path} is not valid JSON ({exc.msg}); fix or remove it"
            ) from None

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
        account = Account(
            nickname,
            record["connection"],
            dict(record["values"]),
            record["secret_store"],
            dict(record.get("facts", {})),
        )
        account.secrets = self._load_secrets(nickname, record)
        return account

    def _load_secrets(self, nickname: str, record: Mapping[str, Any]) -> dict[str, str]:
        if record["secret_store"] == "keyring":
            if self.keyring is None:
                raise AccountError(
                    f"the secret of {nickname!r} is in the OS keyring, which is not available now"
                )
            found = {
                name: self.keyring.get_password(KEYRING_SERVICE, f"{nickname}:{name}")
                for name in record["secret_names"]
            }
            return {k: v for k, v in found.items() if v is not None}
        return dict(record.get("secrets", {}))

    # Writing.

    def save(self, account: Account, make_default: bool = False) -> None:
        data = self._read()
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
        data["accounts"][account.nickname] = record
        if make_default or not data.get("default"):
            data["default"] = account.nickname
        self._write(data)

    def remove(self, nickname: str) -> None:
        data = self._read()
        record = data["accounts"].pop(nickname, None)
        if record is None:
            raise AccountError(f"no account called {nickname!r}")
        if record["secret_store"] == "keyring" and self.keyring is not None:
            for name in record["secret_names"]:
                with contextlib.suppress(Exception):
                    self.keyring.delete_password(KEYRING_SERVICE, f"{nickname}:{name}")
        if data.get("default") == nickname:
            data["default"] = next(iter(sorted(data["accounts"])), None)
        self._write(data)

    def set_default(self, nickname: str) -> None:
        data = self._read()
        if nickname not in data["accounts"]:
            raise AccountError(f"no account called {nickname!r}")
        data["default"] = nickname
        self._write(data)

    def _write(self, data: Mapping[str, Any]) -> None:
        """Atomically: a 0600 temporary file in the same 0700 folder, then rename."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.home.stat().st_mode) & 0o077:
            os.chmod(self.home, 0o700)
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
