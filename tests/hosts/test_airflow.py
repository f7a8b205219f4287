"""flo's Airflow provider in a real Airflow (pinned, in its own environment): the documented
setup commands and DAG, then retries, against the sandbox over loopback answering 30% of
message creates with a 500 after storing them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.helpers import ROOT, free_port, sandbox_process
from tests.hosts.hostvenv import host_python
from tests.twilio_spec import unavailable

HERE = Path(__file__).parent
EXAMPLE = ROOT / "examples" / "airflow_campaign.py"
AUTH = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)

pytestmark = pytest.mark.slow


def readme_section() -> str:
    text = (ROOT / "docs" / "hosts.md").read_text()
    return text.split("\n## Use in Airflow\n", 1)[1].split("\n## ", 1)[0]


def readme_commands() -> list[str]:
    """The section's shell commands, continuation lines joined, without the install."""
    [block] = re.findall(r"```bash\n(.*?)```", readme_section(), re.S)
    lines = block.replace("\\\n", " ").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("pip ")]


def sent_to(url: str) -> Counter[str]:
    """How many messages the sandbox holds for each recipient."""
    counts: Counter[str] = Counter()
    page: str | None = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json?PageSize=1000"
    while page:
        answer = httpx.get(url + page, auth=AUTH).raise_for_status().json()
        counts.update(message["to"] for message in answer["messages"])
        page = answer.get("next_page_uri")
    return counts


def starting(counts: Counter[str], prefix: str) -> list[int]:
    return [n for to, n in counts.items() if to.startswith(prefix)]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """Airflow set up as docs/hosts.md says, both DAGs run with dag.test(): what they left."""
    python = host_python("airflow", HERE / "airflow-requirements.txt")
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "dags").mkdir()
    shutil.copy(EXAMPLE, home / "dags")
    shutil.copy(HERE / "airflow_drill.py", home / "dags")
    shutil.copy(HERE / "airflow_rows.csv", home / "dags")
    env = {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "FLO_SETTLE_SECONDS": "1",
    }

    def run(command: str, code: int = 0) -> str:
        done = subprocess.run(  # in AIRFLOW_HOME: the documented twilio.json is written there
            command, shell=True, env=env, cwd=home, capture_output=True, text=True, timeout=300
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"{command}\n{output[-6000:]}"
        return output

    with sandbox_process("--ambiguous-rate", "0.3", "--ambiguous-mode", "500") as url:
        for command in readme_commands():  # airflow db migrate first, as a new user would
            extra = f'"password": "%s", "extra": {{"api_base_url": "{url}"}}}}'
            run(command.replace('"password": "%s"}', extra))
        wrong = {"conn_type": "twilio", "login": DEFAULT_ACCOUNT_SID, "password": "not-it"}
        env["AIRFLOW_CONN_TWILIO_WRONG"] = json.dumps({**wrong, "extra": {"api_base_url": url}})
        paced = {"api_base_url": url, "max_in_flight": 2, "max_per_second": 50}
        right = {**wrong, "password": DEFAULT_AUTH_TOKEN, "extra": paced}
        env["AIRFLOW_CONN_TWILIO_PACED"] = json.dumps(right)
        output = run("airflow connections test twilio_default")
        output += run("airflow connections test twilio_wrong", code=1)
        output += run(f"python {home / 'dags' / EXAMPLE.name}")
        output += run(f"python {home / 'dags' / 'airflow_drill.py'}")
        output += run("airflow dags unpause twilio_campaign")
        counts = sent_to(url)
        with api_server(env) as api:
            buttons = {conn_id: press_test_button(api, conn_id) for conn_id in ui_made(api, url)}
            browser = in_a_browser(python, api, list(buttons))
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, map_index, state, try_number, pool, pool_slots FROM task_instance"
        ).fetchall()
        tries = {(row[0], row[1]): row[2:4] for row in rows}
        pools = {(row[0], row[1]): row[4:] for row in rows}
        xcom = dict(db.execute("SELECT task_id, value FROM xcom WHERE key = 'return_value'"))
    return {
        "home": home,
        "env": env,
        "output": output,
        "counts": counts,
        "tries": tries,
        "pools": pools,
        "xcom": xcom,
        "buttons": buttons,
        "browser": browser,
    }


@contextlib.contextmanager
def api_server(env: dict[str, str]) -> Iterator[str]:
    """``airflow api-server`` on a free port, everyone an admin: its URL once it answers."""
    port = free_port()
    env = {**env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    command = ["airflow", "api-server", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not answers(f"{url}/api/v2/monitor/health"):
            assert server.poll() is None, server.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "airflow api-server did not answer in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.communicate(timeout=30)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def bearer(api: str) -> dict[str, str]:
    token = httpx.get(f"{api}/auth/token").raise_for_status().json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def ui_made(api: str, sandbox: str) -> list[str]:
    """The documented connection (made from the command line) and one made as the UI's "Add
    Connection" form posts it (the hidden fields left out): their ids."""
    form = {
        "connection_id": "twilio_ui",
        "conn_type": "twilio",
        "login": DEFAULT_ACCOUNT_SID,
        "password": DEFAULT_AUTH_TOKEN,
        "extra": json.dumps({"api_base_url": sandbox}),
    }
    made = httpx.post(f"{api}/api/v2/connections", json=form, headers=bearer(api))
    assert made.status_code == 201, made.text
    return ["twilio_default", "twilio_ui"]


def press_test_button(api: str, conn_id: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """What the Test button of the connection list does (Airflow 3.3's UI): it posts the
    listed connection, blanks as "", the masked password as listed, and the port as
    ``Number(port)``, which is 0 for none. Its status, answer and the body posted."""
    listed = httpx.get(f"{api}/api/v2/connections/{conn_id}", headers=bearer(api)).json()
    body = {
        "conn_type": listed["conn_type"],
        "connection_id": listed["connection_id"],
        "description": listed["description"] or "",
        "extra": listed["extra"] or "{}",
        "host": listed["host"] or "",
        "login": listed["login"] or "",
        "password": listed["password"] or "",
        "port": listed["port"] or 0,
        "schema": listed["schema"] or "",
    }
    answer = httpx.post(f"{api}/api/v2/connections/test", json=body, headers=bearer(api))
    return answer.status_code, answer.json(), body


def in_a_browser(python: Path, api: str, conn_ids: list[str]) -> dict[str, Any] | None:
    """The Test buttons pressed in Airflow's UI in headless Chromium (airflow_button.py):
    what each posted and the toast it showed; None without Chromium."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return None
    command = [str(python), str(HERE / "airflow_button.py"), executable, api, *conn_ids]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("BUTTONS ")]
    return dict(json.loads(line.removeprefix("BUTTONS ")))


def test_the_readme_dag_sends_each_message_once(airflow):
    counts = airflow["counts"]
    assert sorted(starting(counts, "+12065550")) == [1] * 20  # the campaign's recipients
    assert counts["+12065559999"] == 1  # its report, templated from the campaign's XCom
    assert airflow["tries"][("campaign", -1)][0] == "success"
    assert airflow["tries"][("report", -1)][0] == "success"


def test_retries_after_a_send_do_not_send_again(airflow):
    counts, tries = airflow["counts"], airflow["tries"]
    # flo's operators: every first try sent, then "lost its worker"; the retry sent nothing.
    assert tries[("flo_bulk", 0)] == tries[("flo_bulk", 1)] == ("success", 2)
    assert tries[("flo_once", -1)] == ("success", 2)
    assert sorted(starting(counts, "+1206556") + starting(counts, "+1206557")) == [1] * 16
    assert counts["+12065580000"] == 1
    # The same retries around a plain call of the card send again: the test can tell.
    assert tries[("plain", -1)][1] >= 2
    assert sum(starting(counts, "+1206559")) > 8


def test_the_other_operators(airflow):
    counts, tries, xcom = airflow["counts"], airflow["tries"], airflow["xcom"]
    assert sorted(starting(counts, "+120655401")) == [1] * 3  # the CSV's rows
    assert json.loads(xcom["from_file"])["done"] == 3
    assert counts["+12065580001"] == 1 and json.loads(xcom["mms"])["sid"].startswith("MM")
    answer = json.loads(xcom["custom"])
    assert tries[("custom", -1)] == ("success", 1)
    assert answer["statusCode"] == 200 and answer["body"]["sid"] == DEFAULT_ACCOUNT_SID
    assert answer["body"]["auth_token"] == "***"


def test_each_task_takes_its_accounts_pool(airflow):
    """One slot a message, concurrency slots a bulk task, mapped or not."""
    pools = airflow["pools"]
    assert pools[("campaign", -1)] == pools[("flo_bulk", 1)] == ("twilio_twilio_default", 4)
    assert pools[("from_file", -1)] == ("twilio_twilio_default", 16)  # the default concurrency
    assert pools[("report", -1)] == ("twilio_twilio_default", 1)
    assert pools[("mms", -1)] == ("twilio_twilio_paced", 1)
    assert pools[("recipients", -1)] == ("default_pool", 1)


def test_what_a_retry_cannot_mend_fails_the_task_without_retries(airflow):
    tries, output = airflow["tries"], airflow["output"]
    assert tries[("refused", -1)] == tries[("no_file", -1)] == ("failed", 1)
    assert "AirflowFailException: run " in output
    assert "item 1 failed: 21211 " in output  # why, from Twilio's answer
    assert re.search(r"AirflowFailException: items_file: no file \S+/dags/none.csv", output)


def test_the_connection_test_button(airflow):
    output = airflow["output"]
    assert "Connection success!" in output
    assert "Connection failed!\nTwilio error 20003 (HTTP 401)" in output


def test_the_uis_test_button_answers_for_connections_from_the_cli_and_the_ui(airflow):
    """Airflow 3.3.2 answers 400 "The host or port to test differs from the stored
    connection" to a button that sends port 0 for a connection without one; flo's plugin
    takes that 0 for no port, for twilio connections."""
    connected = {"status": True, "message": "Connected to 'Sandbox account' (active)"}
    answers = {conn_id: answer[:2] for conn_id, answer in airflow["buttons"].items()}
    assert answers == {"twilio_default": (200, connected), "twilio_ui": (200, connected)}


def test_the_test_button_in_a_real_browser(airflow):
    """Airflow's UI in headless Chromium: the button posts what the test above posts (port
    0), and its toast says the account answered. Skipped without a ``chromium`` (failed in CI)."""
    if airflow["browser"] is None:
        unavailable("no chromium to run Airflow's UI in (apt-get install chromium)")
    for conn_id, (_, _, body) in airflow["buttons"].items():
        pressed = airflow["browser"][conn_id]
        assert pressed["posted"] == [body]
        assert (
            pressed["toast"]
            == "Test Connection Successful\nConnected to 'Sandbox account' (active)"
        )


def test_the_task_logs_say_how_the_sends_go_without_numbers(airflow):
    lines = [line for line in airflow["output"].splitlines() if "flo run " in line]
    assert any(": sending: 20 items, 4 at a time" in line for line in lines)  # the campaign
    assert any(" ended done in " in line for line in lines)
    assert any("items ended: " in line for line in lines)
    assert not [line for line in lines if "+1206" in line or "Hello" in line]


def test_the_token_is_in_no_log_and_no_database(airflow):
    """Every file Airflow and flo wrote (the database, the logs folder, the intents), and
    what the commands printed: dag.test() prints the task logs rather than filing them."""
    home: Path = airflow["home"]
    files = [p for p in home.rglob("*") if p.is_file() and "dags" not in p.parts]
    assert home / "airflow.db" in files and home / "flo_twilio" / "runs.db" in files
    assert [p for p in files if DEFAULT_AUTH_TOKEN.encode() in p.read_bytes()] == []
    assert "Done. Returned value was" in airflow["output"]  # the task logs are in it
    assert DEFAULT_AUTH_TOKEN not in airflow["output"]


def test_a_task_keeps_its_journal_in_the_database_of_a_postgres_connection(airflow, postgres_url):
    """``journal_conn_id``: the URL made from the connection's fields, the run in that
    database, nothing in $AIRFLOW_HOME/flo_twilio, the password in no log."""
    home, db = airflow["home"], urlsplit(postgres_url)
    shutil.copy(HERE / "airflow_journal.py", home / "dags")
    journal = {
        "conn_type": "postgres",
        "host": db.hostname,
        "port": db.port,
        "login": db.username,
        "password": db.password,
        "schema": db.path.lstrip("/"),
    }
    with sandbox_process() as url:
        twilio = {"conn_type": "twilio", "login": AUTH[0], "password": AUTH[1]}
        env = {
            **airflow["env"],
            "AIRFLOW_CONN_FLO_JOURNAL": json.dumps(journal),
            "AIRFLOW_CONN_TWILIO_JOURNALLED": json.dumps(
                {**twilio, "extra": {"api_base_url": url}}
            ),
        }
        dag = ["python", str(home / "dags" / "airflow_journal.py")]
        done = subprocess.run(dag, env=env, cwd=home, capture_output=True, text=True, timeout=120)
        counts = sent_to(url)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "state=success" in output, output[-3000:]
    assert counts == dict.fromkeys((f"+1206557{n:04d}" for n in range(5)), 1)
    [run] = Journal(postgres_url).runs()  # a fresh database: this run alone
    assert run["status"] == "done" and run["counts"] == {"done": 5}
    local = home / "flo_twilio"  # the other DAGs' SQLite journal and work files
    assert not [p for p in local.rglob("*") if p.is_file() and b"in PostgreSQL" in p.read_bytes()]
    assert str(db.password) not in output


def test_the_readme_shows_the_dag_the_test_runs():
    assert EXAMPLE.read_text() in readme_section()
    assert "`airflow dags unpause twilio_campaign`" in readme_section()  # run above
    assert "--conn-password" not in "".join(readme_commands())  # ps would show the token


def test_the_plugin_changes_only_a_twilio_connections_test_with_port_0():
    """The middleware on its own, in the Airflow venv: what the app behind it receives."""
    check = """
import asyncio, json
from flo_twilio.hosts.airflow.plugin import PortlessConnectionTest

def received(path, chunks):
    seen = {}
    async def app(scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message["body"], message["more_body"]
        seen.update(body=body, length=dict(scope["headers"]).get(b"content-length"))
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    async def receive():
        return messages.pop(0)
    length = str(len(b"".join(chunks))).encode()
    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", length)]}
    asyncio.run(PortlessConnectionTest(app)(scope, receive, None))
    return seen

twilio = json.dumps({"conn_type": "twilio", "host": "", "port": 0}).encode()
fixed = received("/api/v2/connections/test", [twilio[:10], twilio[10:]])
assert json.loads(fixed["body"]) == {"conn_type": "twilio", "host": ""}, fixed
assert fixed["length"] == str(len(fixed["body"])).encode()
for path, body in (
    ("/api/v2/connections/test", json.dumps({"conn_type": "http", "port": 0}).encode()),
    ("/api/v2/connections/test", json.dumps({"conn_type": "twilio", "port": 443}).encode()),
    ("/api/v2/connections/test", b"not json"),
    ("/api/v2/connections", twilio),
):
    assert received(path, [body]) == {"body": body, "length": str(len(body)).encode()}, path
big = [twilio[:-1], b" " * 70000, b"}"]  # longer than it reads: passed on as it came
whole = b"".join(big)
assert received("/api/v2/connections/test", big) == {"body": whole, "length": str(len(whole)).encode()}
print("ok")
"""
    python = host_python("airflow", HERE / "airflow-requirements.txt")
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr[-3000:]
