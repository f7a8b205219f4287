"""``flo serve``'s engine: receive a trigger's webhooks, keep each event, run its flow.

A webhook is checked by its trigger (the signature, with the connection's webhook secret);
refused, it gets 403 and nothing runs. Accepted, the event is committed to the event store
before the provider is answered, then runs its flow as a run of its own, a few runs at a
time. A second delivery of an event is answered and dropped. Started again after a crash,
the server finishes the events it had accepted (a run that had started is resumed, so
nothing is sent twice). Polling is the same without the webhooks: each poll's new events
are accepted the same way, and the cursor kept once they are. An event that says its sender
opted out (a STOP) or back in (a START) updates the account's opt-out list as it is accepted.

Replicas (several servers on one event store, in PostgreSQL): each beats every
$FLO_HEARTBEAT_SECONDS, and at each beat takes the unfinished events of a replica that
stopped beating (and those it accepted before a restart). Attached, the last one to leave
puts the number's webhook back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from flo_twilio.accounts import Account
from flo_twilio.card import CardContext
from flo_twilio.errors import FloError, RunInUseError
from flo_twilio.redaction import MASK
from flo_twilio.runner import (
    MISSED_BEATS,
    EventStore,
    Flow,
    OptOuts,
    Pending,
    Plan,
    Runner,
    account_id,
    heartbeat_seconds,
)
from flo_twilio.serve.routes import adopt_old_routes
from flo_twilio.trigger import Event, Rejected, Trigger, Webhook

MAX_WEBHOOK = 64 * 1024  # bytes; Twilio's webhooks are a few KB
WORKERS = 4  # runs at once


FORWARDED_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def forwarded(url: str, headers: Mapping[str, str]) -> str:
    """``url`` with the scheme and host a proxy gives in X-Forwarded-Proto and
    X-Forwarded-Host (the first of a list: the proxy nearest the provider); a value that is
    no scheme or host is ignored."""
    parts = urlsplit(url)
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    host = headers.get("x-forwarded-host", "").split(",")[0].strip()
    if proto in ("http", "https"):
        parts = parts._replace(scheme=proto)
    if FORWARDED_HOST.fullmatch(host) and is_port(host.rpartition("]")[2].partition(":")[2]):
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


def is_port(text: str) -> bool:
    """``text`` is empty (no port) or a port number, 0 to 65535 (a bigger one made the
    signature check raise: a 500 and a traceback for any forged header)."""
    return not text or int(text) <= 65535


@dataclass
class Served:
    """A flow being served: its trigger, where its webhooks come (``path`` here, ``url``
    as the provider sees it) and ``route``, its key in the event store (``routes``)."""

    flow: Flow
    trigger: Trigger
    options: dict[str, Any]
    inputs: dict[str, Any]
    path: str
    url: str
    route: str

    @property
    def shown_url(self) -> str:
        """``url`` as flo shows it: a user name and password in it (the proxy's) masked."""
        parts = urlsplit(self.url)
        if "@" not in parts.netloc:
            return self.url
        return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rpartition('@')[2]}"))


class Server:
    """Accepts events for ``served`` flows and runs them with ``runner`` on ``account``
    (reached through ``transport``, if not the network; ``origin`` kept with each run as
    ``Runner.start`` says); ``say`` hears what happens (never a message's content). With
    ``trust_proxy``, a proxy's X-Forwarded-Proto and X-Forwarded-Host say where a webhook
    was sent (only a proxy in front of this server must be able to reach it)."""

    def __init__(
        self,
        runner: Runner,
        account: Account,
        transport: Any,
        origin: dict[str, Any],
        served: list[Served],
        store: EventStore,
        secret: str,
        *,
        say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
        trust_proxy: bool = False,
    ) -> None:
        self.runner, self.account, self.transport, self.origin = runner, account, transport, origin
        self.trust_proxy = trust_proxy
        self.served, self.store, self.secret, self.say = served, store, secret, say
        self.queue: asyncio.Queue[tuple[Served, Pending]] = asyncio.Queue()
        self.busy: set[int] = set()  # events queued or running here
        self.stopped: set[int] = set()  # events whose run stopped here: the next start's
        self.heartbeat = heartbeat_seconds()
        self.ctx: CardContext | None = None

    # Receiving.

    def app(self) -> Starlette:
        routes = [Route(s.path, self.endpoint(s), methods=["POST", "GET"]) for s in self.served]
        return Starlette(routes=routes)

    def endpoint(self, served: Served) -> Callable[[Request], Any]:
        async def receive(request: Request) -> Response:
            return await self.receive(served, request)

        return receive

    async def receive(self, served: Served, request: Request) -> Response:
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_WEBHOOK:
                    return PlainTextResponse("too large", status_code=413)
        except ClientDisconnect:  # dropped as too slow, or gone: no one hears an answer
            return Response(status_code=400)
        webhook = Webhook(
            url=self.signed_url(served, request),
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            form=parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            if request.method == "POST"
            else [],
            body=body,
        )
        try:
            event = served.trigger.parse(served.options, webhook, self.secret)
        except Rejected as exc:
            self.say(f"{served.flow.name}: refused a webhook (403): {exc}")
            return PlainTextResponse("forbidden", status_code=403)
        answer, media_type = served.trigger.reply(served.options)
        if event is not None and self.accept(served, event):
            self.say(f"{served.flow.name}: event accepted")
        return Response(answer, media_type=media_type)

    def signed_url(self, served: Served, request: Request) -> str:
        """The URL the provider requested, which it signed: the flow's public URL (with
        ``trust_proxy``, the scheme and host the proxy says it was reached at) and the
        query exactly as it came."""
        url = forwarded(served.url, request.headers) if self.trust_proxy else served.url
        query = request.url.query  # as received: never re-encoded or re-ordered
        return url + (f"?{query}" if query else "")

    def accept(self, served: Served, event: Event) -> bool:
        """Keep ``event`` (committed) and queue its run; False for one seen before or one
        that breaks the trigger's outputs."""
        problems = served.trigger.manifest.problems("outputs", event.outputs)
        if problems:
            self.say(f"{served.flow.name}: an event was dropped: {problems[0]}")
            return False
        event_id = self.store.accept(served.route, event)
        if event_id is None:
            self.say(
                f"{served.flow.name}: a duplicate delivery (or an out-of-date one) was answered and dropped"
            )
            return False
        self.consent(served, event)
        self.enqueue(served, Pending(event_id, event.outputs, None))
        return True

    def consent(self, served: Served, event: Event) -> None:
        """Put the event's sender on the opt-out list (a STOP), or take them off (a START),
        committed before the provider is answered."""
        change = served.trigger.consent(event)
        if change is None:
            return
        lists, account = (
            OptOuts(self.runner.journal),
            account_id(self.runner.registry, self.account),
        )
        if change.opted_out:
            lists.add(account, change.audience, "keyword")
        else:
            lists.remove(account, change.audience)
        lists.commit()
        self.say(f"{served.flow.name}: opt-{'out' if change.opted_out else 'in'} recorded")

    async def poll(self, every: float, stop: asyncio.Event) -> None:
        """Every ``every`` seconds, accept each served flow's new events, then keep its cursor."""
        while not stop.is_set():
            assert self.ctx is not None
            for served in self.served:
                try:
                    events, cursor = await served.trigger.poll(
                        self.ctx, served.options, self.store.cursor(served.route)
                    )
                except FloError as exc:
                    self.say(f"{served.flow.name}: polling failed, trying again: {exc}")
                    continue
                for event in events:
                    if self.accept(served, event):
                        self.say(f"{served.flow.name}: event found by polling")
                self.store.save_cursor(served.route, cursor)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    # Running.

    def enqueue(self, served: Served, pending: Pending) -> None:
        self.busy.add(pending.id)
        self.queue.put_nowait((served, pending))

    def queue_unfinished(self) -> None:
        """Claim and queue the unfinished events this server may take: accepted before it
        started, or by a replica that stopped beating (not those stopped here)."""
        by_route = {s.route: s for s in self.served}
        found = self.store.unfinished(list(by_route), self.busy | self.stopped)
        taken: dict[str, int] = {}
        for route, pending in found:
            if self.store.claim(pending.id):
                self.enqueue(by_route[route], pending)
                taken[route] = taken.get(route, 0) + 1
        for route, count in taken.items():
            self.say(f"{by_route[route].flow.name}: finishing {count} events accepted before")

    async def beat(self) -> None:
        """Every heartbeat: say this replica runs, and take what stopped replicas left."""
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                self.store.beat()
                self.queue_unfinished()
            except Exception as exc:  # a missed beat; the next one tries again
                self.say(f"flo serve: a heartbeat failed: {type(exc).__name__}: {exc}")

    async def work(self) -> None:
        while True:
            served, pending = await self.queue.get()
            try:
                await self.run(served, pending)
            except RunInUseError as exc:  # its last owner may still run it: the next beat retries
                self.say(f"{served.flow.name}: event {pending.id} waits: {exc}")
            except FloError as exc:  # the run cannot be started or resumed as it is
                self.say(f"{served.flow.name}: event {pending.id} could not run: {exc}")
                self.store.update(pending.id, "failed")
            except Exception as exc:  # kept pending: the next start tries it again
                self.stopped.add(pending.id)
                self.say(
                    f"{served.flow.name}: event {pending.id} stopped: {type(exc).__name__}: {exc}"
                )
            finally:
                self.busy.discard(pending.id)

    async def run(self, served: Served, pending: Pending) -> None:
        """Run (or resume) the event's run to its end, and record how it went."""
        if pending.run_id is None:
            plan = Plan(served.flow, served.inputs, event=pending.outputs)
            run = self.runner.start(plan, self.account, self.transport, origin=self.origin)
            if not self.store.started(pending.id, run.id):  # nothing was sent yet
                self.say(f"{served.flow.name}: event {pending.id} was taken over elsewhere")
                return
        else:
            record = self.runner.record(pending.run_id)
            if record is not None and record["status"] in ("done", "failed"):
                self.store.update(pending.id, record["status"])
                return
            run = await self.runner.resume(pending.run_id, self.account, self.transport)
        outcome = await run.execute()
        self.store.update(pending.id, outcome.status)
        tally = outcome.tally
        self.say(
            f"{served.flow.name}: run {run.id} {outcome.status}: {tally.done} done, "
            f"{tally.failed} failed, {tally.unknown} unknown"
            + (f"; {outcome.stopped}" if outcome.stopped else "")
        )

    @contextlib.asynccontextmanager
    async def running(self, ctx: CardContext) -> Any:
        """Workers running the queued events while the block lasts; stopped after it (a run
        cut short is resumed by the next start)."""
        self.ctx = ctx
        for served in self.served:
            if adopt_old_routes(self.store, served.flow):
                self.say(f"{served.flow.name}: took over the events kept under its file's path")
        self.store.beat()  # a replica before it accepts anything
        self.queue_unfinished()
        tasks = [asyncio.create_task(self.work()) for _ in range(WORKERS)]
        tasks.append(asyncio.create_task(self.beat()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.store.leave()

    # Attaching.

    async def attach(self, replace: bool) -> list[tuple[Served, dict[str, Any]]]:
        """Point the provider at each flow's URL; what each replaced (kept in the store
        until put back: the first replica's, when several attach). A URL this server attached
        before and never put back (killed, then started at another URL) is its own: what it
        replaced then is what goes back. A conflict stops it all, putting back what was done."""
        assert self.ctx is not None
        attached: list[tuple[Served, dict[str, Any]]] = []
        try:
            for served in self.served:
                earlier = self.store.attachments(served.route)
                self.store.hold(served.route, served.url)  # before: the last leaving sees it
                try:
                    found = await served.trigger.attach(
                        self.ctx, served.options, served.url, replace, ours=set(earlier)
                    )
                except BaseException:
                    self.store.release(served.route, served.url)
                    raise
                if found is None:
                    self.store.release(served.route, served.url)
                    self.say(
                        f"{served.flow.name}: {served.trigger.name} has nothing to attach; "
                        f"give the provider {served.shown_url} yourself (e.g. as a send's statusCallback)"
                    )
                    continue
                kept = next(iter(earlier.values()), found)  # the setting before any of ours
                self.store.save_attachment(served.route, served.url, kept)
                for url in earlier:
                    if url != served.url:
                        self.store.forget_attachment(served.route, url)
                attached.append((served, self.store.attachments(served.route)[served.url]))
                self.say(f"{served.flow.name}: attached {served.shown_url}")
        except BaseException:
            await self.detach(attached)
            raise
        return attached

    async def detach(self, attached: list[tuple[Served, dict[str, Any]]]) -> None:
        """Put back what ``attach`` replaced, where it still points at us, unless another
        replica stays attached."""
        assert self.ctx is not None
        for served, found in attached:
            self.store.release(served.route, served.url)
            if not await self.last_to_leave(served):
                self.say(f"{served.flow.name}: left {served.shown_url} to the other replicas")
                continue
            try:
                await served.trigger.detach(self.ctx, served.options, served.url, found)
            except FloError as exc:
                self.say(f"{served.flow.name}: could not put back the previous setting: {exc}")
                continue
            self.store.forget_attachment(served.route, served.url)
            self.say(f"{served.flow.name}: put back the previous setting")

    async def last_to_leave(self, served: Served) -> bool:
        """Whether no other replica stays attached at the flow's URL. One that beats after
        this one began to leave stays; one that does not beat within the heartbeat window
        stopped (killed, say): so this waits about that window at most."""
        began = time.time()
        deadline = time.monotonic() + (MISSED_BEATS + 1) * self.heartbeat
        while True:
            beats = [beat or 0.0 for beat in self.store.other_holders(served.route, served.url)]
            if not beats:
                return True
            if max(beats) > began or time.monotonic() > deadline:  # alive, beating or not
                return False
            await asyncio.sleep(self.heartbeat / 4)
