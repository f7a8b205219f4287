"""The journal in PostgreSQL: what holds on one machine holds across machines. Its schema
is versioned; two takers of a dead run race and one wins; a run beats, and is taken over
only once its heartbeat is older than the window; a wrong URL or password is a located
error with the password masked; a run started on one machine finishes on another sending
nothing twice; and a database restarted mid-run pauses the sends, which then go on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from flo_twilio import InvalidInputError, load_registry
from flo_twilio.accounts import Account, AccountStore
from flo_twilio.errors import KeyTaken, RunInUseError
from flo_twilio.runner.api import Runner
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.journal_schema import VERSION
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread, flo
from tests.postgres import flo_db

ALL_VERSIONS = [(version,) for version in range(1, VERSION + 1)]

psycopg = pytest.importorskip("psycopg")

BULK = ROOT / "sample_flows/bulk_sms.yaml"


def dead_run(journal: Journal, beat_age: float = 3600) -> str:
    """A run left 'running' by a process elsewhere whose last heartbeat is ``beat_age`` old."""
    run_id = journal.start_run("f", "f.yaml", "a", {}, {})
    journal.db.execute(
        "UPDATE runs SET status = 'running', pid = 4242, owner = 'gone:worker-7', "
        f"updated = {time.time() - beat_age} WHERE id = '{run_id}'"
    )
    return run_id


# The schema.


def test_a_journal_newer_than_this_flo_is_refused_naming_both_versions(journal_at):
    journal = Journal(journal_at)
    journal.db.execute("INSERT INTO schema_version (version) VALUES (99)")
    journal.close()
    with pytest.raises(InvalidInputError, match=r"schema version 99, and this flo \(") as refused:
        Journal(journal_at)
    assert f"knows versions up to {VERSION}" in str(refused.value) and "upgrade" in str(
        refused.value
    )


def test_a_journal_from_before_versions_is_migrated_when_opened(tmp_path):
    old = sqlite3.connect(tmp_path / "runs.db")
    old.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, flow TEXT, flow_path TEXT, account TEXT, "
        "arguments TEXT, status TEXT, created REAL, updated REAL, summary TEXT, pid INTEGER)"
    )
    old.execute("INSERT INTO runs VALUES ('r0', 'f', 'f.yaml', 'a', '{}', 'done', 1, 1, '{}', 1)")
    old.commit()
    old.close()
    journal = Journal(tmp_path / "runs.db")
    assert journal.run("r0")["status"] == "done"
    assert journal.db.execute("SELECT version FROM schema_version").fetchall() == ALL_VERSIONS
    journal.start_run("f", "f.yaml", "a", {}, {}, key="k")  # the columns added since are there


def test_a_journal_opened_while_another_process_migrates_it_waits_then_finds_it_done(
    postgres_url,
):
    """Another process is migrating the new database (its transaction is open): opening
    the journal waits for it, then finds the schema made, instead of making it again."""
    from flo_twilio.runner.journal_postgres import PostgresStore
    from flo_twilio.runner.journal_schema import migrate

    store = PostgresStore(postgres_url)
    other = store.connect()
    other.execute("BEGIN")
    migrate(other, store)
    opened: list[object] = []

    def open_journal() -> None:
        try:
            opened.append(Journal(postgres_url))
        except Exception as exc:
            opened.append(exc)

    opening = threading.Thread(target=open_journal)
    opening.start()
    deadline = time.monotonic() + 10
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        while not watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            assert time.monotonic() < deadline, "the opening journal never waited"
            time.sleep(0.01)
    assert not opened
    other.execute("COMMIT")
    other.close()
    opening.join(10)
    [journal] = opened
    assert isinstance(journal, Journal), journal
    assert journal.db.execute("SELECT version FROM schema_version").fetchall() == ALL_VERSIONS


# Owners and heartbeats.


def test_a_database_a_host_keeps_its_own_runs_table_in_holds_flo_s_apart(postgres_url):
    """Dagster's database has a ``runs`` table, Prefect's an ``events``: flo's tables live in
    a schema of their own, so the journal neither reads nor changes the host's."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as host:
        host.execute("CREATE TABLE public.runs (run_id TEXT PRIMARY KEY, pipeline_name TEXT)")
        host.execute("INSERT INTO public.runs VALUES ('dagster-1', 'welcome')")
        journal = Journal(postgres_url)
        run_id = journal.start_run("welcome", "welcome.yaml", "AC1", {}, {})
        journal.close()
        assert host.execute("SELECT * FROM public.runs").fetchall() == [("dagster-1", "welcome")]
    with flo_db(postgres_url) as flo_tables:
        assert flo_tables.execute("SELECT id FROM runs").fetchall() == [(run_id,)]


def test_two_takers_of_a_dead_run_race_in_one_transaction_and_one_wins(postgres_url):
    """Both takers read the run before either writes, unless the first one's read locks the
    row: then the second reads it after the first took it, alive, and is refused."""
    run_id = dead_run(Journal(postgres_url))
    takers = [Journal(postgres_url), Journal(postgres_url)]
    both_read = threading.Barrier(2, timeout=2)  # passed only when neither holds the row
    for taker in takers:
        judge = taker.store.alive

        def after_both_read(*row, judge=judge):
            # Broken when the other taker waits for this one's transaction instead.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait()
            return judge(*row)

        taker.store.alive = after_both_read  # type: ignore[method-assign]
    outcomes: list[str] = []

    def take(journal: Journal) -> None:
        try:
            journal.take_over(run_id)
            outcomes.append("won")
        except RunInUseError as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=take, args=(taker,)) for taker in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes)[-1] == "won" and outcomes.count("won") == 1, outcomes
    [refused] = [o for o in outcomes if o != "won"]
    assert f"run {run_id} is running in process {os.getpid()} on " in refused


RACE = """
import sys, time
from pathlib import Path
from flo_twilio.errors import KeyTaken, RunInUseError
from flo_twilio.runner.journal import Journal
journal = Journal(sys.argv[1])
while not Path(sys.argv[3]).exists():
    time.sleep(0.001)
try:
    journal.take_over(sys.argv[2])
    print("won")
except RunInUseError:
    print("refused")
"""


@pytest.mark.slow
def test_processes_racing_to_take_over_a_dead_run_leave_it_to_one(postgres_url, tmp_path):
    run_id = dead_run(Journal(postgres_url))
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, postgres_url, run_id, str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(0.5)  # let them import and connect; the race is the same either way
    go.touch()
    said = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert said == ["refused", "refused", "refused", "won"]


def test_a_run_elsewhere_is_taken_over_once_its_heartbeat_is_older_than_the_window(
    postgres_url, monkeypatch
):
    """No PID is looked at: the process recorded (4242, even one alive here) means
    nothing across machines; only the heartbeat's age does (6 beats)."""
    monkeypatch.setenv("FLO_HEARTBEAT_SECONDS", "1")
    journal = Journal(postgres_url)
    fresh = dead_run(journal, beat_age=5)
    with pytest.raises(RunInUseError, match="running in process 4242 on worker-7"):
        journal.take_over(fresh)
    assert journal.run(fresh)["status"] == "running"
    stale = dead_run(journal, beat_age=7)
    assert journal.run(stale)["status"] == "interrupted"
    journal.take_over(stale)
    assert journal.run(stale)["status"] == "running"


# Where the journal is, said wrong.


@pytest.mark.parametrize("how", ["--journal", "FLO_JOURNAL"])
def test_a_wrong_password_is_a_located_error_with_the_password_masked(how, postgres, postgres_url):
    wrong = postgres_url.replace(postgres.password, "Wr0ng-pa55word")
    args, env = (["--journal", wrong], {}) if how == "--journal" else ([], {"FLO_JOURNAL": wrong})
    result = flo("runs", "list", *args, env=env)
    assert result.code == 2, result
    assert f"{how}: cannot open the journal postgresql://flo:***@127.0.0.1:" in result.err
    assert "password authentication failed" in result.err
    assert "Wr0ng-pa55word" not in result.err + result.out and "Traceback" not in result.err


def test_a_password_too_short_to_be_redacted_is_still_masked_in_the_url():
    from flo_twilio.runner.journal_postgres import PostgresStore

    for url, shown in (
        ("postgresql://u:pw@db:5432/flo", "postgresql://u:***@db:5432/flo"),
        ("postgresql://db/flo?user=u&password=pw", "postgresql://db/flo?user=u&password=***"),
    ):
        store = PostgresStore(url, "FLO_JOURNAL")
        assert store.name == shown
        refused = store.unreachable(psycopg.OperationalError("no pw here, pw there"))
        assert str(refused) == (
            f"FLO_JOURNAL: cannot open the journal {shown}: no *** here, *** there (check the "
            "URL's host, port, database, user and password, and that the server runs and this "
            "machine may reach it)"
        )


def test_an_unreachable_server_or_another_scheme_stops_flo_run_before_anything_is_sent(
    postgres, tmp_path
):
    closed = f"postgresql://flo:{postgres.password}@127.0.0.1:1/flo"
    sent = tmp_path / "sent"
    for url, says in ((closed, "cannot open the journal"), ("mysql://h/db", "'mysql'")):
        result = flo(
            "run", str(ROOT / "sample_flows/send_sms.yaml"), "--journal", url,
            env={"FLO_HOME": str(sent)},
        )  # fmt: skip
        assert result.code == 2 and says in result.err, result
        assert postgres.password not in result.err
    assert not (sent / "runs.db").exists()


# Across machines.


def message_count(url: str) -> Counter[str]:
    """Messages per recipient, as the sandbox's Messages list says."""
    listed = httpx.get(
        f"{url}/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000", auth=(SID, TOKEN)
    ).json()
    assert listed["next_page_uri"] is None
    return Counter(message["to"] for message in listed["messages"])


@pytest.mark.slow
def test_a_run_killed_on_one_machine_is_listed_and_finished_on_another(postgres_url, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n" + "".join(f"+1206559{i:04d},N{i}\n" for i in range(200)))
    state, faults = SandboxState(status_delay=0.05), Faults(latency=0.05)
    with ServerThread(create_app(state, faults)) as sandbox:
        machines = {}
        for name in ("a", "b"):
            home = tmp_path / name
            account = Account(
                "live", "twilio", values={"account_sid": SID, "api_base_url": sandbox.url},
                secrets={"auth_token": TOKEN},
            )  # fmt: skip
            AccountStore(home).save(account)
            machines[name] = {
                "FLO_HOME": str(home),
                "FLO_JOURNAL": postgres_url,
                "FLO_HEARTBEAT_SECONDS": "0.2",
                "FLO_SETTLE_SECONDS": "1",
            }
        run = subprocess.Popen(
            [sys.executable, "-m", "flo_twilio.cli", "run", str(BULK), "--input",
             f"recipients=@{rows}"],
            env={**os.environ, **machines["a"]},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while len(state.messages) < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        run.kill()
        run.wait()
        assert 0 < len(state.messages) < 200
        deadline = time.monotonic() + 10
        while True:  # machine A's heartbeat stops; after the window, B sees it interrupted
            [record] = json.loads(flo("runs", "list", "--json", env=machines["b"]).out)
            if record["status"] == "interrupted" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert record["status"] == "interrupted"
        resumed = flo("resume", record["id"], env=machines["b"])
        assert resumed.code == 0, resumed.err
        counts = message_count(sandbox.url)
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert not (tmp_path / "a" / "runs.db").exists() and not (tmp_path / "b" / "runs.db").exists()


class BulkRun:
    """A bulk run of ``count`` recipients on PostgreSQL, executing against an in-process
    sandbox; ``until_sent(n)`` waits until n messages are out."""

    def __init__(self, url: str, folder: Path, count: int) -> None:
        rows = folder / "rows.csv"
        rows.write_text("phone,name\n" + "".join(f"+1206558{i:04d},N{i}\n" for i in range(count)))
        self.recipients = {f"+1206558{i:04d}": 1 for i in range(count)}
        self.sandbox = SandboxState(status_delay=0.01)
        app = create_app(self.sandbox, Faults(latency=0.01))
        self.transport = httpx.ASGITransport(DateHeader(app, self.sandbox))
        self.account = Account(
            "work", "twilio", {"account_sid": SID, "api_base_url": "http://127.0.0.1"},
            secrets={"auth_token": TOKEN},
        )  # fmt: skip
        self.runner = Runner(load_registry(), url, settle=0.2)
        plan = self.runner.plan(BULK, [f"recipients=@{rows}"])
        self.run = self.runner.start(plan, self.account, self.transport)
        self.execution = asyncio.ensure_future(self.run.execute())

    async def until_sent(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.sandbox.messages) < count and not self.execution.done():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    def sent_once_each(self) -> bool:
        return Counter(m["to"] for m in self.sandbox.messages.values()) == self.recipients


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_database_restarted_mid_run_pauses_the_sends_which_go_on(
    postgres, postgres_url, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("FLO_JOURNAL_WAIT_SECONDS", "60")
    caplog.set_level(logging.WARNING, "flo_twilio.journal")
    bulk = BulkRun(postgres_url, tmp_path, 300)
    await bulk.until_sent(50)
    await asyncio.to_thread(postgres.restart)
    outcome = await bulk.execution
    assert outcome.status == "done", outcome
    assert bulk.sent_once_each()
    said = caplog.text
    assert "lost the journal's database postgresql://flo:***@" in said
    assert "back after" in said and "nothing written was lost" in said
    assert postgres.password not in said
    assert bulk.runner.status(bulk.run.id)["steps"]["send"] == {"done": 300}


def test_a_key_names_one_run_however_many_processes_start_it_at_once(journal_at):
    journals = [Journal(journal_at) for _ in range(4)]
    started: list[str] = []
    taken: list[str] = []
    go = threading.Barrier(len(journals), timeout=10)

    def start(journal: Journal) -> None:
        go.wait()
        try:
            started.append(journal.start_run("f", "f.yaml", "a", {}, {}, key="dag/run/task/0"))
        except KeyTaken as exc:
            taken.append(exc.run_id)

    threads = [threading.Thread(target=start, args=(journal,)) for journal in journals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(started) == 1 and taken == started * 3


def test_a_sender_on_postgresql_needs_no_folder_of_its_own(
    postgres_url, flo_home, tmp_path, monkeypatch
):
    """Nothing under FLO_HOME; its work files are written again in a temporary folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from flo_twilio.hosts import Sender, account_from
    from flo_twilio.hosts.portal import portal

    sandbox = SandboxState(status_delay=0.01)
    transport = httpx.ASGITransport(DateHeader(create_app(sandbox), sandbox))
    fields = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    sender = Sender(account_from("work", fields), journal=postgres_url, transport=transport)
    try:
        sms = {"from": "+15005550006"}
        first = sender.send_once_sync(
            "k", "twilio.send_sms", sms, {"to": "+12065550100", "body": "Hi"}
        )
        again = Sender(account_from("work", fields), journal=postgres_url, transport=transport)
        assert (
            again.send_once_sync("k", "twilio.send_sms", sms, {"to": "+12065550100", "body": "Hi"})
            == first
        )
        portal().call(again.aclose())
    finally:
        portal().call(sender.aclose())
    assert len(sandbox.messages) == 1 and not any(flo_home.iterdir())
    assert Journal(postgres_url).run_with_key("k")


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_database_out_of_reach_longer_than_the_wait_stops_the_run_and_a_resume_ends_it(
    postgres, postgres_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("FLO_JOURNAL_WAIT_SECONDS", "0.5")
    bulk = BulkRun(postgres_url, tmp_path, 200)
    await bulk.until_sent(30)
    try:
        await asyncio.to_thread(postgres.stop)
        with pytest.raises(Exception, match=r"stayed out of reach for 0\.5 s") as stopped:
            await bulk.execution
        assert postgres.password not in str(stopped.value)
        sent = len(bulk.sandbox.messages)
    finally:
        await asyncio.to_thread(postgres.start)
    assert sent < 200
    later = Runner(load_registry(), postgres_url, settle=0.2)
    monkeypatch.setenv("FLO_HEARTBEAT_SECONDS", "0.05")  # the stopped run's owner is gone
    deadline = time.monotonic() + 10
    while later.record(bulk.run.id)["status"] == "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    resumed = await later.resume(bulk.run.id, bulk.account, bulk.transport)
    outcome = await resumed.execute()
    assert outcome.status == "done", outcome
    assert bulk.sent_once_each()


def test_without_psycopg_a_postgresql_journal_says_which_extra_to_install():
    opened = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['psycopg'] = None\n"
         "from flo_twilio.cli.main import main\n"
         "sys.exit(main(['runs', 'list', '--journal', 'postgresql://flo:pw@127.0.0.1/flo']))"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert opened.returncode == 2, opened.stderr
    assert "pip install 'flo-twilio[postgres]'" in opened.stderr
    assert "Traceback" not in opened.stderr


@pytest.mark.anyio
async def test_a_group_commit_is_one_round_trip_to_the_server(postgres_url, tmp_path):
    """The writer's BEGIN, its items' writes (intents, claims and outcomes, interleaved) and
    its COMMIT reach the server in one pipeline: one round trip per group commit, which is
    what an intent waits for at a distance. Counted as the server's ReadyForQuery answers
    in libpq's trace of the writer's connection."""
    journal = Journal(postgres_url)
    run_id = journal.start_run("f", "f.yaml", "a", {}, {})
    journal.commit()
    trace = (tmp_path / "trace").open("w")
    journal._db.raw.pgconn.trace(trace.fileno())
    journal._db.raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
    for index in range(3):
        journal.intent(run_id, "send", index, f"k{index}", {"to": "+12065551212"})
        journal.finish(run_id, "send", index, "done", outputs={}, claim=(SID, f"SM{index}"))
    await journal.durable()
    journal._db.raw.pgconn.untrace()
    trace.close()
    answers = (tmp_path / "trace").read_text().count("ReadyForQuery")
    assert answers == 1
    assert journal.step_counts(run_id) == {"send": {"done": 3}}
    journal.close()
