"""What the sandbox remembers: accounts, API keys, numbers, messages, calls and recordings."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.sandbox.defaults import DEFAULT_ACCOUNT_SID as DEFAULT_ACCOUNT_SID
from flo_twilio.sandbox.defaults import DEFAULT_AUTH_TOKEN as DEFAULT_AUTH_TOKEN
from flo_twilio.sandbox.defaults import DEFAULT_NUMBERS as DEFAULT_NUMBERS
from flo_twilio.sandbox.verify_rules import VerifyState

BOUGHT = {"voice": True, "sms": True, "mms": True, "fax": False}  # a bought number's capabilities


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SandboxAccount:
    sid: str
    auth_token: str
    friendly_name: str = "Sandbox account"
    type: str = "Full"
    status: str = "active"
    created: float = field(default_factory=time.time)


@dataclass
class PhoneNumber:
    sid: str
    phone_number: str
    friendly_name: str
    capabilities: dict[str, bool]
    created: float = field(default_factory=time.time)
    sms_url: str = ""  # where an incoming message is sent (Twilio's webhook)
    sms_method: str = "POST"
    status_callback: str = ""
    updated: float = field(default_factory=time.time)
    voice_url: str = ""  # what answers a call to it (Twilio's voice webhook)
    settings: dict[str, Any] = field(default_factory=dict)  # its other fields, as Twilio names them


@dataclass
class ApiKey:
    sid: str
    secret: str
    account_sid: str
    friendly_name: str
    created: float = field(default_factory=time.time)


class SandboxState:
    """Everything in memory; with ``db_path``, messages, calls and keys also go to SQLite so
    a restarted sandbox remembers them. ``status_delay`` is the clock: seconds from one
    message (or call) status to the next."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        numbers: Iterable[str] = DEFAULT_NUMBERS,
        *,
        status_delay: float = 1.0,
        unsubscribed: Iterable[str] = (),
        db_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.status_delay = status_delay
        self.accounts: dict[str, SandboxAccount] = {}
        self.keys: dict[str, ApiKey] = {}
        self.numbers: dict[str, list[PhoneNumber]] = {}
        self.services: dict[str, str] = {}  # account sid -> its Messaging Service sid
        self.messages: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[str]] = {}  # account sid -> message sids, oldest first
        self.calls: dict[str, dict[str, Any]] = {}  # in the order they were made
        self.recordings: dict[str, dict[str, Any]] = {}  # in the order they were made
        self.unsubscribed = set(unsubscribed)
        # (account sid, its number, a phone that texted STOP to it): in memory only
        self.opted_out: set[tuple[str, str | None, str]] = set()
        self.verify = VerifyState()  # Verify services and verifications: in memory only
        self.add_account(account_sid, auth_token, numbers)
        self._db = _open(db_path) if db_path else None
        if self._db:
            self._load()

    def add_account(self, sid: str, auth_token: str, numbers: Iterable[str]) -> SandboxAccount:
        account = SandboxAccount(sid, auth_token)
        self.accounts[sid] = account
        self.order[sid] = []
        self.services[sid] = "MG" + sid[2:]
        self.numbers[sid] = [
            PhoneNumber(
                sid="PN" + secrets.token_hex(16),
                phone_number=number,
                friendly_name=f"Sandbox number {i + 1}",
                capabilities={"voice": True, "sms": True, "mms": i != 1, "fax": False},
            )
            for i, number in enumerate(numbers)
        ]
        return account

    def number(self, account_sid: str, phone_number: str) -> PhoneNumber | None:
        bare = phone_number.removeprefix("whatsapp:")
        return next((n for n in self.numbers[account_sid] if n.phone_number == bare), None)

    def number_by_sid(self, account_sid: str, sid: str) -> PhoneNumber | None:
        return next((n for n in self.numbers[account_sid] if n.sid == sid), None)

    def taken(self, phone_number: str) -> bool:
        """Whether any account has ``phone_number``."""
        return any(n.phone_number == phone_number for ns in self.numbers.values() for n in ns)

    def buy_number(self, account_sid: str, phone_number: str) -> PhoneNumber:
        """Give the account ``phone_number`` (a fresh sid; the caller checks it is free)."""
        now = self.clock()
        number = PhoneNumber(
            new_sid("PN"), phone_number, phone_number, dict(BOUGHT), now, updated=now
        )
        self.numbers[account_sid].append(number)
        return number

    def save_number(self, account_sid: str, number: PhoneNumber) -> None:
        """Keep a bought or changed number in the database, if any."""
        self._store("numbers", {"sid": number.sid, "account_sid": account_sid, **number.__dict__})

    def release_number(self, account_sid: str, number: PhoneNumber) -> None:
        self.numbers[account_sid].remove(number)
        if self._db:
            with self._db:
                self._db.execute("DELETE FROM numbers WHERE sid = ?", (number.sid,))

    def add_key(self, account_sid: str, friendly_name: str) -> ApiKey:
        key = ApiKey(
            new_sid("SK"), secrets.token_urlsafe(24), account_sid, friendly_name, self.clock()
        )
        self.keys[key.sid] = key
        if self._db:
            with self._db:
                self._db.execute(
                    "INSERT INTO keys VALUES (?, ?)", (key.sid, json.dumps(key.__dict__))
                )
        return key

    def save_message(self, message: dict[str, Any]) -> None:
        if message["sid"] not in self.messages:
            self.order[message["account_sid"]].append(message["sid"])
        self.messages[message["sid"]] = message
        self._store("messages", message)

    def delete_message(self, sid: str) -> None:
        message = self.messages.pop(sid)
        self.order[message["account_sid"]].remove(sid)
        self._unstore("messages", sid)

    def delete_call(self, sid: str) -> None:
        del self.calls[sid]
        self._unstore("calls", sid)

    def save_call(self, call: dict[str, Any]) -> None:
        self.calls[call["sid"]] = call
        self._store("calls", call)

    def save_recording(self, recording: dict[str, Any]) -> None:
        self.recordings[recording["sid"]] = recording
        self._store("recordings", recording)

    def delete_recording(self, sid: str) -> None:
        del self.recordings[sid]
        self._unstore("recordings", sid)

    def _store(self, table: str, record: dict[str, Any]) -> None:
        """Write ``record`` to ``table`` (messages, calls, recordings, numbers) of the database."""
        if self._db:
            with self._db:
                self._db.execute(
                    f"INSERT INTO {table} VALUES (?, ?) ON CONFLICT(sid) DO UPDATE SET data = excluded.data",
                    (record["sid"], json.dumps(record)),
                )

    def _unstore(self, table: str, sid: str) -> None:
        if self._db:
            with self._db:
                self._db.execute(f"DELETE FROM {table} WHERE sid = ?", (sid,))

    def _load(self) -> None:
        assert self._db is not None
        for (data,) in self._db.execute("SELECT data FROM keys"):
            key = ApiKey(**json.loads(data))
            self.keys[key.sid] = key
        for (data,) in self._db.execute("SELECT data FROM messages ORDER BY rowid"):
            message = json.loads(data)
            if message["account_sid"] in self.order:
                self.messages[message["sid"]] = message
                self.order[message["account_sid"]].append(message["sid"])
        for (data,) in self._db.execute("SELECT data FROM calls ORDER BY rowid"):
            call = json.loads(data)
            self.calls[call["sid"]] = call
        for (data,) in self._db.execute("SELECT data FROM recordings ORDER BY rowid"):
            recording = json.loads(data)
            self.recordings[recording["sid"]] = recording
        for (data,) in self._db.execute("SELECT data FROM numbers ORDER BY rowid"):
            record = json.loads(data)
            numbers = self.numbers.get(record.pop("account_sid"))
            if numbers is not None:  # a changed default number replaces its fresh twin
                number = PhoneNumber(**record)
                numbers[:] = [n for n in numbers if n.phone_number != number.phone_number]
                numbers.append(number)


def _open(path: str | Path) -> sqlite3.Connection:
    """The SQLite file at ``path``, private to this user (0600, as are its -wal and -shm
    files, which SQLite creates with the database's mode): it holds API key secrets."""
    with contextlib.suppress(OSError):  # a bad path: sqlite3 says what is wrong with it
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS messages (sid TEXT PRIMARY KEY, data TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS keys (sid TEXT PRIMARY KEY, data TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS calls (sid TEXT PRIMARY KEY, data TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS recordings (sid TEXT PRIMARY KEY, data TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS numbers (sid TEXT PRIMARY KEY, data TEXT)")
    return db
