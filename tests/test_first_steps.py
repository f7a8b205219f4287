"""What a new user meets first: a stopped sandbox, retries, progress, run outputs, CSV hints,
exit codes, the Python examples of docs/hosts.md and the sandbox's filters (issue 22)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from flo_twilio.cards.twilio_connection import connect
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client import core as client_core
from flo_twilio.client.neterrors import refused_on_this_machine
from flo_twilio.errors import InvalidInputError, UnreachableError
from flo_twilio.plugins import load_registry
from flo_twilio.runner.flow import load_flow
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox import embedded as embedded_sandbox
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread, free_port, in_terminal
from tests.inprocess import builtin_sandbox, run_flo

SEND_SMS = str(ROOT / "sample_flows" / "send_sms.yaml")
TO = ("--input", "to=+12065551212", "--input", "body=hi")


def add_account(url: str, *extra: str) -> None:
    added = run_flo(
        "accounts", "add", "work", "--account-sid", SID, "--auth-token", "-",
        "--api-base-url", url, "--no-verify", *extra, input=TOKEN + "\n",
    )  # fmt: skip
    assert added.code == 0, added.err


# A stopped sandbox, and retries set from the command line and the account.


@pytest.mark.anyio
async def test_a_refused_connection_on_this_machine_fails_at_once_untried_again(monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr(client_core.asyncio, "sleep", sleep)
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN), api_base_url=f"http://127.0.0.1:{free_port()}"
    )
    async with client:
        with pytest.raises(UnreachableError, match="connection refused") as info:
            await client.create_message({"To": "+12065551212", "Body": "hi"})
    assert slept == [] and "tries" not in str(info.value)


def test_only_a_refused_connection_to_a_loopback_address_is_unreachable():
    refused = httpx.ConnectError("Cannot connect")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert refused_on_this_machine(refused, "http://127.0.0.1:4010/x")
    assert refused_on_this_machine(refused, "http://localhost:4010/x")
    assert refused_on_this_machine(refused, "http://[::1]:4010/x")
    assert not refused_on_this_machine(refused, "https://api.twilio.com/x")  # may be a blip
    reset = httpx.ConnectError("Cannot connect")
    reset.__cause__ = ConnectionResetError()
    assert not refused_on_this_machine(reset, "http://127.0.0.1:4010/x")


def test_a_run_on_a_stopped_sandbox_says_at_once_that_nothing_listens():
    add_account(f"http://127.0.0.1:{free_port()}")
    began = time.monotonic()
    result = run_flo("run", SEND_SMS, *TO)
    assert result.code == 1
    assert "connection refused: nothing listens on that port" in result.err
    assert "start it again: flo sandbox --port" in result.err
    assert "sending again" not in result.err and "tries" not in result.err
    assert time.monotonic() - began < 10  # was 30 to 40 s: six tries, then 1, 5, 15 s pauses


def counting_builtin_sandbox(monkeypatch, faults: Faults) -> list[str]:
    """The built-in sandbox with ``faults``; returns the list of requests it receives."""
    seen: list[str] = []
    app = create_app(SandboxState(status_delay=0.01), faults)

    class Counting(httpx.ASGITransport):
        async def handle_async_request(self, request):
            seen.append(f"{request.method} {request.url.path}")
            return await super().handle_async_request(request)

    monkeypatch.setattr(embedded_sandbox, "embedded_transport", lambda _db=None: Counting(app))
    return seen


@pytest.mark.parametrize(
    ("option", "env", "tries"),
    [(("--retries", "1"), {}, 2), ((), {"FLO_RETRIES": "0"}, 1), ((), {}, 6)],
    ids=["option", "variable", "default"],
)
def test_the_clients_retries_are_set_from_the_command_line(monkeypatch, option, env, tries):
    seen = counting_builtin_sandbox(monkeypatch, Faults(rate_429=1.0))
    monkeypatch.setattr(client_core.RetryPolicy, "delay", lambda *_a, **_k: 0.0)
    monkeypatch.setenv("FLO_RETRY_PAUSES", "0")  # the runner's own one new try
    result = run_flo("run", SEND_SMS, *TO, *option, env=env)
    assert result.code == 1, result.err
    assert len([s for s in seen if s.startswith("POST")]) == 2 * tries


def test_an_accounts_retries_set_its_clients_policy():
    values = {"account_sid": SID, "auth_token": TOKEN}
    assert connect({**values, "retries": "0"}).retry.max_attempts == 1
    assert connect({**values, "retries": "3"}).retry.max_attempts == 4
    assert connect(values).retry.max_attempts == 6


@pytest.mark.parametrize("value", ["-1", "x", "21", "²"])
def test_a_bad_retries_is_refused_naming_where_it_came_from(value):
    result = run_flo("run", SEND_SMS, *TO, "--retries", value)
    assert result.code == 2
    assert "--retries" in result.err and "whole number from 0 to 20" in result.err
    variable = run_flo("run", SEND_SMS, *TO, env={"FLO_RETRIES": value})
    assert variable.code == 2 and "FLO_RETRIES" in variable.err
    added = run_flo(
        "accounts", "add", "w", "--account-sid", SID, "--auth-token", "-", "--no-verify",
        "--retries", value, input=TOKEN + "\n",
    )  # fmt: skip
    assert added.code == 2 and "retries (--retries)" in added.err


# The progress bar: the pre-pass's count, and never complete after Ctrl-C.


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def bar_after(totals: dict[str, int] | None, items: int, *, finished: bool) -> str:
    from flo_twilio.cli.progress import Progress

    flow = load_flow(ROOT / "sample_flows" / "bulk_sms.yaml", load_registry())
    stream = Terminal()
    progress = Progress(stream, totals=totals)
    for _ in range(items):
        progress.item(flow.steps[0], "done")
    progress.close(finished=finished)
    return stream.getvalue().rsplit("send", 1)[-1]


def test_the_bar_shows_the_rows_the_pre_pass_counted():
    assert "2/5" in bar_after({"send": 5}, 2, finished=True)
    assert "/?" in bar_after(None, 2, finished=False)


def test_an_interrupted_run_is_not_drawn_complete():
    assert "2/5" in bar_after({"send": 5}, 2, finished=False)
    assert "2/2" not in bar_after(None, 2, finished=False)
    assert "2/2" in bar_after(None, 2, finished=True)  # streamed, finished: its count is all


def test_totals_follow_inputs_and_the_steps_over_their_outputs():
    from flo_twilio.cli.progress import totals

    registry = load_registry()
    looked_up = load_flow(ROOT / "sample_flows" / "lookup_then_send.yaml", registry)
    assert totals(looked_up, {}, {"recipients": 7}) == {s.id: 7 for s in looked_up.steps}
    bulk = load_flow(ROOT / "sample_flows" / "bulk_sms.yaml", registry)
    assert totals(bulk, {"recipients": [{}, {}]}, {}) == {"send": 2}


@pytest.mark.slow
def test_flo_run_at_a_terminal_counts_to_the_rows_it_checked(flo_home):
    code, out = in_terminal(
        "run", "sample_flows/bulk_sms.yaml", "--input", "recipients=@sample_flows/recipients.csv"
    )
    assert code == 0, out
    assert "0/5" in out and "5/5" in out and "/?" not in out


# flo runs show shows a run's outputs (those of runs started by flo serve too).


def run_id_of(result) -> str:
    return json.loads(result.out)["run"]


@pytest.mark.parametrize(
    "args",
    [
        ("sample_flows/bulk_sms.yaml", "--input", "recipients=@sample_flows/recipients.csv"),
        ("sample_flows/auto_reply.yaml", "--event", "@sample_flows/incoming_sms.json"),
    ],
    ids=["for_each", "trigger"],
)
def test_runs_show_prints_the_outputs_the_run_printed(monkeypatch, args):
    builtin_sandbox(monkeypatch)
    ran = run_flo("run", *args, "--json", cwd=ROOT)
    assert ran.code == 0, ran.err
    printed = json.loads(ran.out)["outputs"]
    shown = run_flo("runs", "show", run_id_of(ran), "--json")
    assert json.loads(shown.out)["outputs"] == printed
    human = run_flo("runs", "show", run_id_of(ran)).out
    assert human.split("outputs: ", 1)[1].strip() == json.dumps(printed, indent=2)


def test_runs_show_says_why_an_unfinished_run_has_no_outputs(monkeypatch):
    builtin_sandbox(monkeypatch)
    ran = run_flo(
        "run", "sample_flows/lookup_then_send.yaml", "--json",
        "--input", "recipients=@sample_flows/lookup_recipients.csv", cwd=ROOT,
    )  # fmt: skip
    run_id = run_id_of(ran)
    with sqlite3.connect(Path(os.environ["FLO_HOME"]) / "runs.db") as db:
        db.execute("DELETE FROM items WHERE run_id = ? AND step_id = 'send'", (run_id,))
    shown = json.loads(run_flo("runs", "show", run_id, "--json").out)
    assert shown["outputs"] is None and "step send has not run" in shown["no_outputs"]
    assert "outputs: none (step send has not run" in run_flo("runs", "show", run_id).out


# CSV hints, and CSV files as spreadsheets save them.

BULK = str(ROOT / "sample_flows" / "bulk_sms.yaml")


def checked_csv(tmp_path, content: bytes, *extra: str):
    path = tmp_path / "rows.csv"
    path.write_bytes(content)
    return run_flo("validate", BULK, "--input", f"recipients=@{path}", *extra)


@pytest.mark.parametrize(
    ("content", "named", "option"),
    [
        (b"phone|name\n+12065551212|Ada\n", "'|'", "--delimiter '|'"),
        (b"phone;name\n+12065551212;Ada\n", "';'", "--delimiter ';'"),
        (b"phone\tname\n+12065551212\tAda\n", "tab", "--delimiter tab"),
    ],
    ids=["pipe", "semicolon", "tab"],
)
def test_a_header_read_as_one_column_suggests_the_delimiter(tmp_path, content, named, option):
    result = checked_csv(tmp_path, content, "--delimiter", ",")
    assert result.code == 2
    assert "rows.csv:1:1: no column 'phone': the header reads as one column" in result.err
    assert f"the file is {named}-separated: pass {option}" in result.err
    assert "did you mean" not in result.err and result.err.count("no column") == 1
    assert checked_csv(tmp_path, content, "--delimiter", option.split()[1].strip("'")).code == 0


def test_a_misspelt_column_is_named_where_it_is_with_the_name_it_needs(tmp_path):
    result = checked_csv(tmp_path, b"phone,nme\n+12065551212,Ada\n")
    assert result.code == 2
    assert "rows.csv:1:2: no column 'name' (columns found: phone, nme)" in result.err
    assert "if column 'nme' is meant to be name, rename it name" in result.err
    assert "did you mean nme" not in result.err


def test_a_short_row_is_not_said_to_leave_the_file_without_rows(tmp_path):
    result = checked_csv(tmp_path, b"phone,name\n+12065551212\n")
    assert result.code == 2
    assert "rows.csv:2:1: this row has 1 cell, the header 2 (phone, name)" in result.err
    assert "no rows" not in result.err


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbfphone;name\r\n+12065551212;Ada\r\n",  # Excel, European locale, UTF-8
        b'\xef\xbb\xbf"phone";"name"\r\n"+12065551212";"Ada"\r\n',
        b"sep=;\r\nphone;name\r\n+12065551212;Ada\r\n",  # Excel's delimiter line
        b"phone,name\r+12065551212,Ada\r",  # Excel for Mac's CSV: CR line ends
    ],
    ids=["bom-crlf-semicolon", "quoted", "sep-line", "cr"],
)
def test_csv_saved_from_excel_is_read(tmp_path, content):
    result = checked_csv(tmp_path, content)
    assert result.code == 0, result.err
    assert "recipients: 1 row checked" in result.err


def test_excel_in_its_windows_encoding_is_told_which_encoding_to_give(tmp_path):
    content = b"phone;name\r\n+12065551212;Zo\xeb\r\n"
    result = checked_csv(tmp_path, content)
    assert result.code == 2 and "rows.csv:2:16: byte 0xEB is not UTF-8" in result.err
    assert "--encoding cp1252" in result.err
    assert checked_csv(tmp_path, content, "--encoding", "cp1252").code == 0


# Exit codes: one table for every command. 0 ok, 2 invalid input, usage or configuration,
# 1 a run or a request failed, 130 interrupted.

FLOW = "sample_flows/send_sms.yaml"


def broken_plugin(monkeypatch):
    from flo_twilio import plugins

    real = plugins.load_registry

    def load(pm=None):
        registry = real(pm)
        registry.failures.append("the plugin 'broken' (no_such_module) could not be loaded")
        return registry

    monkeypatch.setattr(plugins, "load_registry", load)


def unsafe_accounts_file(_monkeypatch):
    home = Path(os.environ["FLO_HOME"])
    home.mkdir(exist_ok=True)
    (home / "accounts.json").write_text("{}")
    (home / "accounts.json").chmod(0o644)


def a_done_run(monkeypatch) -> str:
    builtin_sandbox(monkeypatch)
    return run_id_of(run_flo("run", FLOW, *TO, "--json", cwd=ROOT))


def dead_account(_monkeypatch):
    add_account(f"http://127.0.0.1:{free_port()}")


def busy_port(monkeypatch) -> str:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    LISTENERS.append(listener)
    return str(listener.getsockname()[1])


def refusing_sandbox(_monkeypatch) -> str:
    """A sandbox over loopback whose token is not the one flo accounts add is given."""
    server = ServerThread(create_app(SandboxState(auth_token="another-token")))
    LISTENERS.append(server)
    return server.__enter__().url


LISTENERS: list = []


@pytest.fixture(autouse=True)
def close_listeners():
    yield
    while LISTENERS:
        listener = LISTENERS.pop()
        listener.close() if hasattr(listener, "close") else listener.__exit__(None, None, None)


OPTED = ("+12065551212",)
EXIT_CODES = {
    "validate": [
        ((FLOW, *TO), None, 0),
        ((FLOW, "--input", "to=12065551212"), None, 2),
        (("sample_flows/nope.yaml",), None, 2),
    ],
    "run": [
        ((FLOW, *TO), None, 0),
        ((FLOW, "--input", "to=12065551212"), None, 2),
        ((FLOW, *TO, "--account", "nope"), None, 2),
        ((FLOW, *TO), unsafe_accounts_file, 2),
        ((FLOW, *TO), dead_account, 1),
    ],
    "resume": [(("nope",), None, 2), (("{run}",), a_done_run, 0)],
    "runs list": [((), None, 0)],
    "runs show": [(("nope",), None, 2), (("{run}",), a_done_run, 0)],
    "cards list": [((), None, 0), ((), broken_plugin, 2)],
    "cards show": [(("twilio.send_sms",), None, 0), (("twilio.nope",), None, 2)],
    "options": [
        (("twilio.send_sms", "from"), None, 0),
        (("twilio.send_sms", "from", "--account", "nope"), None, 2),
        (("twilio.send_sms", "from"), dead_account, 1),
    ],
    "accounts add": [
        (("w", "--account-sid", "AC1", "--auth-token", "-"), None, 2),
        (("w", "--account-sid", SID, "--auth-token", "-", "--no-verify"), None, 0),
        (
            ("w", "--account-sid", SID, "--auth-token", "-", "--api-base-url", "{port}"),
            refusing_sandbox,
            1,
        ),
    ],
    "accounts list": [((), None, 0), ((), unsafe_accounts_file, 2)],
    "accounts verify": [(("nope",), None, 2), (("work",), dead_account, 1)],
    "accounts remove": [(("nope",), None, 2), (("work",), dead_account, 0)],
    "accounts default": [(("nope",), None, 2), (("work",), dead_account, 0)],
    "sandbox": [(("--port", "{port}"), busy_port, 2)],
    "optouts list": [((), None, 0), (("--account", "nope"), None, 2)],
    "optouts add": [
        ((*OPTED, "--sender", "+15005550006"), None, 0),
        (("2065551212", "--sender", "+15005550006"), None, 2),
    ],
    "optouts remove": [
        ((*OPTED, "--sender", "+15005550006"), None, 0),
        (("2065551212", "--sender", "+15005550006"), None, 2),
    ],
    "optouts import": [(("no-such-file.csv", "--sender", "+15005550006"), None, 2)],
    "optouts export": [((), None, 0), (("--account", "nope"), None, 2)],
    "serve": [
        ((FLOW,), None, 2),
        (("sample_flows/auto_reply.yaml", "--port", "{port}"), busy_port, 2),
    ],
}
CASES = [
    pytest.param(command, args, setup, code, id=f"{command}-{number}-exit-{code}")
    for command, cases in EXIT_CODES.items()
    for number, (args, setup, code) in enumerate(cases)
]


def commands_of(parser) -> set[str]:
    """Every command of the flo command line, e.g. "runs show"."""
    import argparse

    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = commands_of(sub)
                found |= {f"{name} {c}" for c in inner} if inner else {name}
    return found


def test_every_command_is_held_to_the_exit_code_table():
    from flo_twilio.cli.main import build_parser

    assert commands_of(build_parser()) == set(EXIT_CODES)


@pytest.mark.parametrize(("command", "args", "setup", "code"), CASES)
def test_exit_codes(monkeypatch, command, args, setup, code):
    monkeypatch.chdir(ROOT)
    given = setup(monkeypatch) if setup else None
    args = tuple(a.format(run=given, port=given) for a in args)
    result = run_flo(*command.split(), *args, input=TOKEN + "\n")
    assert result.code == code, result.err
    as_json = run_flo(*command.split(), *args, "--json", input=TOKEN + "\n")
    if code and "--json" not in as_json.err:  # the command has --json: its error, in JSON
        answer = json.loads(as_json.out)
        assert as_json.code == code and answer.get("exit_code", code) == code


def every_parser(parser):
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from every_parser(sub)


@pytest.mark.parametrize("command", sorted(EXIT_CODES))
def test_an_interrupted_command_exits_130(monkeypatch, command):
    import importlib

    cli_main = importlib.import_module("flo_twilio.cli.main")
    real = cli_main.build_parser

    def interrupted(_args):
        raise KeyboardInterrupt

    def parser():
        built = real()
        for each in every_parser(built):
            if each.get_default("handler"):
                each.set_defaults(handler=interrupted)
        return built

    monkeypatch.setattr(cli_main, "build_parser", parser)
    args = [a.format(run="nope", port="4010") for a in EXIT_CODES[command][0][0]]
    assert run_flo(*command.split(), *args).code == 130


def test_cards_list_json_with_a_broken_plugin_prints_the_error(monkeypatch):
    broken_plugin(monkeypatch)
    result = run_flo("cards", "list", "--json")
    answer = json.loads(result.out)
    assert result.code == 2 and answer["exit_code"] == 2
    assert "the plugin 'broken' (no_such_module) could not be loaded" in answer["error"]["message"]


def test_validate_json_says_the_flow_is_valid_and_counts_its_rows():
    result = run_flo(
        "validate", BULK, "--input", "recipients=@sample_flows/recipients.csv", "--json", cwd=ROOT
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "flow": "bulk_sms",
        "valid": True,
        "steps": 1,
        "rows": {"recipients": 5},
    }


# The Python examples of docs/hosts.md, as written and with nothing listening.


def readme_python(section: str) -> str:
    text = (ROOT / "docs" / "hosts.md").read_text().split(f"## {section}", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    "section", ["Using the cards from your own host", "Run a flow from Python"]
)
def test_the_readme_examples_as_written_refuse_the_placeholder_sid_at_once(section, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(client_core.TwilioClient, "request", None)  # no request may be made
    with pytest.raises(InvalidInputError, match="Account SID must be AC followed by 32"):
        exec(compile(readme_python(section), "docs/hosts.md", "exec"), {})


def test_the_runner_example_with_nothing_listening_fails_at_once_saying_why(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = readme_python("Run a flow from Python").replace('"AC..."', f'"{SID}"')
    code = code.replace("http://127.0.0.1:4010", f"http://127.0.0.1:{free_port()}")
    began = time.monotonic()
    exec(compile(code, "docs/hosts.md", "exec"), {})
    assert time.monotonic() - began < 10  # was 43 s
    first, reasons = capsys.readouterr().out.split("\n", 1)
    assert first.split()[1:] == ["failed", "0"]
    assert "x POST" in reasons and "connection refused: nothing listens on that port" in reasons
    assert (Path(os.environ["FLO_HOME"]) / "runs.db").exists()
    assert not (ROOT / "runs.db").exists()


# The env account honours TWILIO_API_BASE_URL, as the hosts' adapters do.


def test_the_env_account_sends_to_twilio_api_base_url():
    state = SandboxState(status_delay=0.01)
    with ServerThread(create_app(state)) as server:
        env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
        result = run_flo("run", SEND_SMS, *TO, env={**env, "TWILIO_API_BASE_URL": server.url})
    assert result.code == 0, result.err
    assert "on account env" in result.err and len(state.messages) == 1


def test_a_bad_twilio_api_base_url_is_refused_naming_the_variables():
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
    result = run_flo("run", SEND_SMS, *TO, env={**env, "TWILIO_API_BASE_URL": "http://evil.test"})
    assert result.code == 2 and "TWILIO_* environment variables" in result.err


# A media URL with a space is refused by flo validate, and by the sandbox with 21620.


@pytest.mark.parametrize(
    "url", ["https://demo.twilio.com/my owl.png", 'https://x.com/a"b.png', "https://x.com/a{b}.png"]
)
def test_a_media_url_a_url_cannot_hold_is_refused_before_sending(tmp_path, url):
    flow = tmp_path / "mms.yaml"
    text = (ROOT / "sample_flows/send_mms.yaml").read_text()
    flow.write_text(text.replace("https://demo.twilio.com/owl.png", url))
    assert url.split("/")[-1] not in text
    result = run_flo("validate", str(flow))
    assert result.code == 2, result.err
    assert "mediaUrls" in result.err and "write a space as %20" in result.err
    assert f"{flow}:" in result.err  # located


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "https://x.com/a b.png",
        'https://x.com/a"b.png',
        "https://x.com/a<b>.png",
        "https://x.com/%zz",
    ],
)
async def test_the_sandbox_answers_21620_for_a_media_url_twilio_would_refuse(url):
    state = SandboxState()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_app(state)), base_url="http://s", auth=(SID, TOKEN)
    ) as client:
        form = {"To": "+12065551212", "From": "+15005550006", "MediaUrl": url}
        answer = await client.post(f"/2010-04-01/Accounts/{SID}/Messages.json", data=form)
        good = {**form, "MediaUrl": "https://x.com/a%20b.png"}
        accepted = await client.post(f"/2010-04-01/Accounts/{SID}/Messages.json", data=good)
    assert (answer.status_code, answer.json()["code"]) == (400, 21620)
    assert accepted.status_code == 201 and len(state.messages) == 1


# The sandbox filters IncomingPhoneNumbers.json by PhoneNumber and FriendlyName, as Twilio.


def test_the_filters_are_those_of_twilios_spec():
    from tests.twilio_spec import spec

    operation = spec()["paths"]["/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"]
    names = {p["name"] for p in operation["get"]["parameters"] if p["in"] == "query"}
    assert {"PhoneNumber", "FriendlyName"} <= names


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"PhoneNumber": "+15558675310"}, ["+15558675310"]),
        ({"PhoneNumber": "867"}, ["+15558675310"]),  # a part of the number
        ({"PhoneNumber": "+1501712266*"}, ["+15017122661"]),  # * is any digit
        ({"PhoneNumber": "+19999999999"}, []),
        ({"FriendlyName": "Sandbox number 2"}, ["+15017122661"]),
        ({"FriendlyName": "Sandbox number"}, []),  # the whole name
        ({}, ["+15005550006", "+15017122661", "+15558675310"]),
    ],
)
async def test_the_sandbox_lists_only_the_numbers_asked_for(query, found):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_app(SandboxState())),
        base_url="http://s",
        auth=(SID, TOKEN),
    ) as client:
        answer = await client.get(
            f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json", params=query
        )
    assert [n["phone_number"] for n in answer.json()["incoming_phone_numbers"]] == found


# Small things: the SID checked as typed, plurals, --delimiter's help, the built-in sandbox's URL.


@pytest.mark.slow
def test_accounts_add_checks_the_sid_as_soon_as_it_is_typed(flo_home):
    code, out = in_terminal(
        "accounts", "add", "work", "--no-verify",
        replies=(("Account SID: ", "AC..."), ("Account SID: ", SID), ("Auth Token: ", TOKEN)),
    )  # fmt: skip
    assert code == 0, out
    complaint = out.index("the Account SID must be AC followed by 32 hexadecimal characters")
    assert complaint < out.index("Auth Token: ")
    assert out.count("Account SID: ") == 2


def test_counts_of_one_read_in_the_singular(monkeypatch, tmp_path):
    builtin_sandbox(monkeypatch)
    dry = run_flo("run", SEND_SMS, *TO, "--dry-run")
    assert "dry run: 1 request, nothing sent; 0 items invalid" in dry.err
    assert "built-in sandbox: it answers inside this process" in dry.err
    valid = run_flo("validate", SEND_SMS)
    assert "valid (1 step)" in valid.err
    rows = tmp_path / "one.csv"
    rows.write_text("phone,name\n+12065551212,Ada\n")
    assert (
        "recipients: 1 row checked"
        in run_flo("validate", BULK, "--input", f"recipients=@{rows}").err
    )


def test_the_delimiter_help_lists_its_choices_readably():
    from contextlib import redirect_stdout

    from flo_twilio.cli.main import build_parser

    shown = io.StringIO()
    with redirect_stdout(shown), pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    assert "{,,;" not in shown.getvalue()
    assert "CSV delimiter: , ; tab or |" in " ".join(shown.getvalue().split())


def test_waiting_and_summary_lines_count_in_the_singular():
    from flo_twilio.runner.wording import counted

    assert [counted(n, "item") for n in (0, 1, 2, 1000)] == [
        "0 items",
        "1 item",
        "2 items",
        "1,000 items",
    ]


def test_runs_show_says_a_failed_single_step_leaves_no_outputs(monkeypatch):
    builtin_sandbox(monkeypatch)
    ran = run_flo("run", SEND_SMS, "--input", "to=+15005550001", "--json")  # 21211
    assert ran.code == 1
    shown = json.loads(run_flo("runs", "show", run_id_of(ran), "--json").out)
    assert shown["outputs"] is None
    assert shown["no_outputs"] == "step sms ended failed: the run has no outputs"


def test_runs_show_says_an_interrupted_run_has_no_outputs_yet(monkeypatch):
    from flo_twilio.runner.journal import Journal

    run_id = a_done_run(monkeypatch)
    Journal(Path(os.environ["FLO_HOME"]) / "runs.db").set_status(run_id, "interrupted")
    shown = json.loads(run_flo("runs", "show", run_id, "--json").out)
    assert shown["no_outputs"] == "the run is interrupted: it has no outputs yet"
