"""flo's cards as Prefect tasks: a ``TwilioAccount`` block, and tasks that send each piece
of work at most once however often Prefect retries it, the task or the whole flow run.

Prefect imports this module through the ``prefect.collections`` entry point, which makes
the block known wherever flo-twilio is installed (``pip install 'flo-twilio[prefect]'``).

Each call is sent by ``flo_twilio.hosts.Sender`` under a key that Prefect's retries keep:
a task's retries run the same task run, but a flow run's retry runs its tasks again as new
task runs, so the key is the flow run's id (kept across its retries) with the work's
content and how many times this flow run attempt asked for that content before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger, task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency as prefect_concurrency
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import Field, SecretStr, model_validator

from flo_twilio.accounts import Account
from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.hosts import BulkResult, HostSendError, Sender, account_from


class TwilioAccount(Block):
    """A Twilio account for flo's cards. Save it once (``TwilioAccount(...).save("work")``
    or in the UI) and name it in the tasks: ``send_sms("work", options, inputs)``."""

    _block_type_name = "Twilio Account"
    _block_type_slug = "twilio-account"
    _description = "A Twilio account for flo-twilio's cards and tasks (exactly once under retries)."

    account_sid: str = Field(description="AC followed by 32 hex characters.")
    auth_token: SecretStr | None = Field(
        default=None, description="The Auth Token (or give an API key and its secret)."
    )
    api_key: str | None = Field(default=None, description="An API key SID (SK...).")
    api_secret: SecretStr | None = Field(default=None, description="The API key's secret.")
    region: str | None = Field(default=None, description="A Twilio region, e.g. ie1.")
    edge: str | None = Field(default=None, description="A Twilio edge, e.g. dublin.")
    api_base_url: str | None = Field(
        default=None, description="Another Twilio-compatible server, e.g. http://127.0.0.1:4010."
    )
    max_in_flight: int = Field(
        default=25,
        ge=1,
        description="Requests in flight at once for this account in each process; also the "
        "slots of the Prefect concurrency limit twilio-<Account SID> when flo creates it.",
    )
    max_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Message segments each sender of this account sends a second in each "
        "process, e.g. 1 for a US long code (default: no limit).",
    )
    state_folder: str | None = Field(
        default=None,
        description="flo's journal of what was sent (default $FLO_HOME/hosts): a local "
        "folder every worker that may retry a task sees (so they run on one machine).",
    )
    journal: SecretStr | None = Field(
        default=None,
        description="flo's journal in PostgreSQL, postgresql://USER:PASSWORD@HOST:5432/DB "
        "(default $FLO_JOURNAL): workers on any machine or pod then share it, and no "
        "local folder is needed.",
    )

    @model_validator(mode="after")
    def _checked(self) -> TwilioAccount:
        try:
            self.account()
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return self

    def account(self) -> Account:
        """The flo account of these fields, checked as ``flo accounts add`` checks them."""
        secrets = {
            name: value.get_secret_value() if value is not None else None
            for name, value in (("auth_token", self.auth_token), ("api_secret", self.api_secret))
        }
        fields = {
            "account_sid": self.account_sid,
            "api_key": self.api_key,
            "region": self.region,
            "edge": self.edge,
            "api_base_url": self.api_base_url,
            "max_in_flight": str(self.max_in_flight),
            "max_per_second": str(self.max_per_second) if self.max_per_second else None,
            **secrets,
        }
        return account_from(self._block_document_name or "twilio-account", fields)

    def sender(self) -> Sender:
        """The process's one ``Sender`` of this account (one client, one in-flight cap)."""
        journal = self.journal.get_secret_value() if self.journal else None
        return Sender.shared(self.account(), state=self.state_folder, journal=journal)

    @property
    def concurrency_limit(self) -> str:
        """The Prefect global concurrency limit that caps this account's sends across
        every worker: ``twilio-<Account SID>``."""
        return f"twilio-{self.account_sid}"


def retry_unless_final(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry only when a retry can end differently, not
    after flo said it would fail the same way (bad input, a refused account, an item
    Twilio refused)."""
    try:
        state.result()
    except HostSendError as exc:
        return exc.retryable
    except FloError:
        return False
    except Exception:
        return True
    return True


SEND_TASK = {
    "retries": 3,
    "retry_delay_seconds": [5, 30, 120],
    "retry_condition_fn": retry_unless_final,
    "cache_policy": NO_CACHE,  # a send is never skipped for a cached result
}


def _card_task(card: str) -> Any:
    name = card.removeprefix("twilio.")

    def send(
        account: str | TwilioAccount,
        options: dict[str, Any],
        inputs: dict[str, Any],
        key: str | None = None,
    ) -> dict[str, Any]:
        block = _block(account)
        work = work_key(card, options, [inputs], key)
        with _slots(block, 1):
            return block.sender().send_once_sync(work, card, options, inputs, progress=_task_log())

    send.__name__ = send.__qualname__ = name
    send.__doc__ = (
        f"Call ``{card}`` once with ``options`` and ``inputs`` (the card's reference in "
        "docs/cards.md) on the account block named ``account``; its outputs. A retry of this task, "
        "or of its flow run, returns what was sent and sends only what never arrived. "
        "``key``: your own identity of this message, kept across flow runs too."
    )
    return task(send, name=f"twilio-{name}", **SEND_TASK)


send_sms = _card_task("twilio.send_sms")
send_mms = _card_task("twilio.send_mms")
custom_api = _card_task("twilio.custom_api")


@task(name="twilio-send_bulk", **SEND_TASK)
def send_bulk(
    account: str | TwilioAccount,
    card: str,
    options: dict[str, Any],
    items: list[dict[str, Any]],
    concurrency: int = 16,
    key: str | None = None,
) -> BulkResult:
    """Call ``card`` with ``options`` for each item's inputs, ``concurrency`` at a time, in
    this one task (flo's engine, not a task per message); a retry resumes it and sends
    nothing twice. It holds ``concurrency`` slots of the account's concurrency limit."""
    block = _block(account)
    work = work_key(card, options, items, key)
    with _slots(block, concurrency):
        return block.sender().send_bulk_sync(
            work, card, options, items, concurrency=concurrency, progress=_task_log()
        )


def _task_log() -> Callable[[str], None]:
    """Where a task says how its sends go: its run's log (Prefect's UI shows it), or this
    module's logger when called outside a run (``.fn`` with a ``key``)."""
    try:
        return get_run_logger().info
    except MissingContextError:
        return logging.getLogger(__name__).info


def _block(account: str | TwilioAccount) -> TwilioAccount:
    if isinstance(account, TwilioAccount):
        return account
    if not isinstance(account, str) or not account:
        raise InvalidInputError(
            "account must be the name of a saved TwilioAccount block, or the block itself"
        )
    try:
        loaded: TwilioAccount = TwilioAccount.load(account)
    except ValueError as exc:
        if not isinstance(exc.__cause__, ObjectNotFound):
            raise  # the saved block's fields are wrong: pydantic's error names them
        hint = f'save one first: TwilioAccount(account_sid=..., ...).save("{account}")'
        problem = Problem(f"no TwilioAccount block named {account!r}", hint=hint)
        raise InvalidInputError([problem]) from exc
    return loaded


# Keys: one per task run (its retries ask again), made once from what the flow run attempt
# asked for before, so a retried flow run finds its first attempt's keys in the same order.
_keys: dict[str, str] = {}
_asked: Counter[tuple[str, int, str]] = Counter()
_keys_lock = threading.Lock()


def work_key(
    card: str,
    options: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    key: str | None = None,
) -> str:
    """The key of this task run's work, stable across Prefect's retries: ``key`` when
    given; else the flow run's id, the work's content, and how many times this attempt of
    the flow run asked for that same content before (so a message sent twice on purpose is
    sent twice, and a retried flow run sends nothing its first attempt sent)."""
    if key is not None:
        return f"prefect/key/{key}"
    task_context = TaskRunContext.get()
    if task_context is None:
        raise InvalidInputError(
            "flo's Prefect tasks key their work by their task run: call them in a flow or "
            "as tasks, or give key="
        )
    task_run = task_context.task_run
    flow_context = FlowRunContext.get()
    flow_run = flow_context.flow_run if flow_context else None
    with _keys_lock:
        if str(task_run.id) not in _keys:
            if flow_run is None:
                _keys[str(task_run.id)] = f"prefect/task-run/{task_run.id}"
            else:
                content = json.dumps([card, options, items], sort_keys=True, default=str)
                digest = hashlib.sha256(content.encode()).hexdigest()[:32]
                asked = (str(flow_run.id), flow_run.run_count, digest)
                _keys[str(task_run.id)] = f"prefect/{flow_run.id}/{digest}/{_asked[asked]}"
                _asked[asked] += 1
        return _keys[str(task_run.id)]


LEASE_SECONDS = 60
"""How long Prefect keeps a task's slots without hearing from it: its shortest lease (it
renews the lease every 45 s while the task runs). A task killed mid-send (its process, its
machine) holds them this long, plus up to a pass of Prefect's lease repossessor (15 s);
Prefect's own default, 300 s, left a retried run's sends waiting minutes."""

_limits: dict[str, int] = {}
_limits_lock = threading.Lock()


@contextmanager
def _slots(block: TwilioAccount, count: int) -> Iterator[None]:
    """Hold ``count`` slots of the account's concurrency limit (created with
    ``max_in_flight`` slots when Prefect has none of that name) while sending, leased
    ``LEASE_SECONDS`` at a time."""
    name = block.concurrency_limit
    limit = _limit(name, block.max_in_flight)
    if count > limit:
        problem = Problem(
            f"concurrency {count} is more than the {limit} slots of the Prefect concurrency "
            f"limit {name!r}",
            hint=f"give concurrency={limit} or less, or raise the limit: "
            f"prefect gcl update {name} --limit {count}",
        )
        raise InvalidInputError([problem])
    with prefect_concurrency(name, occupy=count, lease_duration=LEASE_SECONDS):
        yield


def _limit(name: str, default: int) -> int:
    """The slots of the global concurrency limit ``name``, created if missing (read once
    per process)."""
    with _limits_lock:
        if name not in _limits:
            _limits[name] = run_coro_as_sync(_ensure_limit(name, default))
        return _limits[name]


async def _ensure_limit(name: str, default: int) -> int:
    async with get_client() as client:
        try:
            found = await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another worker made it meanwhile
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=default)
                )
            found = await client.read_global_concurrency_limit_by_name(name)
        return int(found.limit)


__all__ = [
    "TwilioAccount",
    "custom_api",
    "retry_unless_final",
    "send_bulk",
    "send_mms",
    "send_sms",
    "work_key",
]
