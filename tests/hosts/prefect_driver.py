"""Runs in the Prefect venv (tests/hosts/test_prefect.py starts it): the documented "Use in
Prefect" code under Prefect's test harness against the sandbox, with Prefect's task and flow
retries, and a control that sends with plain ``call_card`` under the same retries.

argv: the folder holding the documented snippets (block.py, campaign.py), the sandbox's URL,
the sandbox account's SID and token, the JSON file to write what was seen to, the URL of a
PostgreSQL database for a block whose journal is there.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.testing.utilities import prefect_test_harness

from flo_twilio import CardContext, call_card, load_registry
from flo_twilio.cards import TWILIO
from flo_twilio.errors import InvalidInputError
from flo_twilio.hosts.prefect import (
    TwilioAccount,
    _slots,
    custom_api,
    send_bulk,
    send_mms,
    send_sms,
)

SNIPPETS, SANDBOX, SID, TOKEN, REPORT, JOURNAL = sys.argv[1:7]
SMS = {"from": "+15005550006"}


def recipients(first: int, count: int) -> list[dict[str, str]]:
    return [{"phone": f"+1206555{n:04d}", "name": f"N{n}"} for n in range(first, first + count)]


def csv_of(name: str, rows: list[dict[str, str]]) -> str:
    path = Path(SNIPPETS) / name
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, ["phone", "name"])
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(SNIPPETS) / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@task(retries=2, retry_delay_seconds=0)
def send_then_fail(row: dict[str, str]) -> str:
    """A task whose first attempt sends and then fails (a worker lost after the send): its
    retry must not send again."""
    outputs = send_sms.fn("work", SMS, {"to": row["phone"], "body": "task retry"})
    attempts.append(row["phone"])
    if get_run_context().task_run.run_count == 1:  # type: ignore[union-attr]
        raise RuntimeError("lost after sending")
    return str(outputs["sid"])


@task(retries=3, retry_delay_seconds=0)
def plain_send(row: dict[str, str]) -> str:
    """The control: the documented "own host" call_card, retried by Prefect."""
    card = load_registry().card("twilio.send_sms")()
    account = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": SANDBOX}

    async def main() -> dict[str, Any]:
        async with TWILIO.connect(account) as client:
            context = CardContext(client, {"sid": client.account_sid})
            return await call_card(card, context, SMS, {"to": row["phone"], "body": "plain"})

    return str(asyncio.run(main())["sid"])


@task
def lease_seconds() -> list[float]:
    """How long Prefect leases the account's slots to a task holding them: the lease files
    of the server's filesystem lease storage (the test sets it), read while holding."""
    leases = Path(os.environ["PREFECT_HOME"], "concurrency_leases")
    with _slots(TwilioAccount.load("work"), 2):
        found = [
            json.loads(p.read_text()) for p in leases.glob("*.json") if p.stem != "expirations"
        ]
    return [
        (
            datetime.fromisoformat(f["expiration"]) - datetime.fromisoformat(f["created_at"])
        ).total_seconds()
        for f in found
    ]


def bad_sid() -> str:
    try:
        TwilioAccount(account_sid="AC123", auth_token="x" * 32)
    except ValueError as exc:
        return str(exc)
    return "accepted"


def no_block() -> str:
    try:
        send_sms.fn("nowhere", SMS, {"to": "+12065551212", "body": "x"}, key="k")
    except InvalidInputError as exc:
        return str(exc)
    return "sent"


def too_many_slots() -> str:
    try:
        send_bulk.fn("work", "twilio.send_sms", SMS, [{"to": "+12065551212"}], 26, key="k")
    except InvalidInputError as exc:
        return str(exc)
    return "sent"


def journalled() -> dict[str, Any]:
    """A block whose journal is in PostgreSQL (its secret field), saved, loaded by name in
    a flow that sends through it: the run's id, how the block shows the URL, the seconds."""
    started = time.monotonic()
    account = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": SANDBOX}
    TwilioAccount(**account, journal=JOURNAL).save("shared")

    @flow
    def campaign() -> str:
        items = [{"to": f"+1206557{n:04d}", "body": "kept in PostgreSQL"} for n in range(5)]
        return send_bulk("shared", "twilio.send_sms", SMS, items, concurrency=2).run_id

    run_id = campaign()
    shown = repr(TwilioAccount.load("shared"))
    return {"run_id": run_id, "shown": shown, "seconds": time.monotonic() - started}


attempts: list[str] = []
running: list[str] = []


def main() -> None:
    seen: dict[str, Any] = {}
    with prefect_test_harness(server_startup_timeout=120):  # ~25 s on 2 cores
        database = PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1]
        with get_client(sync_client=True) as client:  # the server found the entry point
            seen["block_type"] = client.read_block_type_by_slug("twilio-account").name
        prefect = str(Path(sys.executable).with_name("prefect"))
        registered = subprocess.run(
            [prefect, "block", "register", "-m", "flo_twilio.hosts.prefect"],
            capture_output=True,
            text=True,
            env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        )
        seen["register"] = [registered.returncode, registered.stdout + registered.stderr]
        load("block")  # the documented block, saved as "work"
        seen["bad_input"] = [bad_sid(), no_block(), too_many_slots()]
        outside = {"to": "+12065550800", "body": "outside a run"}  # .fn with a key: no run
        seen["outside_a_run"] = send_sms.fn("work", SMS, outside, key="outside")["sid"][:2]
        campaign = load("campaign").campaign

        # The documented flow as it is.
        seen["campaign"] = campaign(csv_of("a.csv", recipients(100, 20)), "Hello {name}", chunk=7)

        # A flow run retried after its tasks sent: every task runs again as a new task run.
        @flow(retries=1, retry_delay_seconds=0)
        def retried_flow() -> int:
            sent = campaign.fn(csv_of("b.csv", recipients(200, 20)), "Hi {name}", chunk=7)
            rows = [{"to": r["phone"], "body": "x"} for r in recipients(300, 10)]
            send_sms.map("work", unmapped(SMS), rows).result()
            for _ in range(2):  # the same message twice, on purpose: sent twice
                send_sms("work", SMS, {"to": "+12065550999", "body": "twice"})
            if get_run_context().flow_run.run_count == 1:  # type: ignore[union-attr]
                raise RuntimeError("the flow fails after sending; Prefect retries it")
            return int(sent)

        seen["retried_flow"] = retried_flow()

        @flow
        def retried_tasks() -> list[str]:
            return list(send_then_fail.map(recipients(400, 10)).result())

        seen["retried_tasks"] = len(retried_tasks())
        seen["task_attempts"] = len(attempts)

        @flow
        def keyed() -> str:  # the same key in two flow runs: sent once
            return str(send_sms("work", SMS, {"to": "+12065550600", "body": "k"}, key="k1")["sid"])

        seen["keyed"] = [keyed(), keyed()]

        @flow
        def other_cards() -> list[Any]:  # the MMS and Custom API tasks answer their outputs
            picture = {"to": "+12065550700", "body": "cards", "mediaUrls": ["https://e.com/a.png"]}
            mms = send_mms("work", SMS, picture)
            fetched = custom_api(
                "work", {"method": "GET"}, {"relativeUrl": f"/Accounts/{SID}.json"}
            )
            return [mms["sid"][:2], mms["numMedia"], fetched["statusCode"], fetched["body"]["sid"]]

        seen["other_cards"] = other_cards()

        # A refused number: HostSendError(retryable=False) ends the task at once.
        @flow
        def refused(retry_condition: bool) -> bool:
            sms = send_sms.with_options(
                retries=2,
                retry_delay_seconds=0,
                on_running=[lambda task, run, state: running.append(str(run.id))],
            )
            if not retry_condition:
                sms = sms.with_options(retry_condition_fn=lambda task, run, state: True)
            state = sms("work", SMS, {"to": "+15005550001", "body": "x"}, return_state=True)
            return bool(state.is_failed())

        seen["refused_failed"] = refused(True)
        seen["refused_attempts"] = len(running)
        running.clear()
        seen["refused_failed_without_condition"] = refused(False)
        seen["refused_attempts_without_condition"] = len(running)

        @flow
        def control() -> int:
            futures = plain_send.map(recipients(500, 20))
            futures.wait()
            return sum(1 for future in futures if future.state.is_completed())

        seen["control_completed"] = control()

        @flow
        def leased() -> list[float]:
            return lease_seconds()

        seen["lease_seconds"] = leased()

        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(f"twilio-{SID}")
            seen["limit"] = [limit.limit, limit.active_slots]
        seen["journal"] = journalled()
    # The harness kept its database in a temporary folder it deletes at exit: keep a copy in
    # PREFECT_HOME, which the test searches for the token.
    shutil.copytree(Path(database).parent, Path(os.environ["PREFECT_HOME"]) / "harness")
    Path(REPORT).write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
