"""No secret is ever printed, logged, journalled or written: registered secrets are
redacted on every way out, and credential fields are masked in every body format."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flo_twilio.accounts import Account, AccountStore, from_environment
from flo_twilio.redaction import (
    mask_secret_fields,
    mask_text,
    masked_json,
    redacted_stdio,
    register_secret,
)
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.helpers import ServerThread
from tests.inprocess import run_flo as flo  # in this process; a few tests start one

TOKEN = "account-auth-token-5f1c9a7e21"
SUB_TOKEN = "subaccount-token-0b3d8e6f4a"
KEY_SECRET = "key-secret-value-91ab27cd55"
SUB_SID = "AC" + "5" * 32


class Kept(logging.Handler):
    """A host's handler: keeps the records it is given, untouched."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def host_log():
    """A logger of the host application (not flo's), with its own handler."""
    logger = logging.getLogger("host.app")
    handler = Kept()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # only the host's handler sees its records
    yield logger, handler.records
    logger.removeHandler(handler)
    logger.propagate = True


# Log records: only those that hold a secret are changed.


def test_records_without_a_secret_keep_their_args_and_exc_info(host_log):
    logger, records = host_log
    register_secret(TOKEN, username=SID)
    logger.info("user %s sent %d messages", "ada", 3)
    try:
        raise ValueError("nothing secret here")
    except ValueError:
        logger.exception("job %s failed", "nightly", stack_info=True)
    plain, failed = records
    assert plain.msg == "user %s sent %d messages" and plain.args == ("ada", 3)
    assert failed.args == ("nightly",) and failed.exc_info is not None
    assert failed.exc_info[0] is ValueError and failed.msg == "job %s failed"
    assert failed.stack_info and "Stack (most recent call last)" in failed.stack_info


def test_records_with_a_secret_are_masked_in_message_exception_and_stack(host_log):
    logger, records = host_log
    register_secret(TOKEN, username=SID)
    logger.info("connecting with %s", {"auth_token": TOKEN})
    try:
        raise RuntimeError(f"refused {TOKEN}")
    except RuntimeError:
        logger.exception("failed")
    logger.debug(
        "header Basic %s", __import__("base64").b64encode(f"{SID}:{TOKEN}".encode()).decode()
    )
    message, failed, header = records
    assert message.getMessage() == "connecting with {'auth_token': '***'}" and message.args == ()
    assert failed.exc_info is None and "refused ***" in failed.exc_text
    assert header.getMessage() == "header Basic ***"
    text = "".join(logging.Formatter().format(r) for r in records)
    assert TOKEN not in text and "***" in text


def test_a_host_can_register_a_secret_before_any_client_exists(host_log):
    logger, records = host_log
    register_secret("host-registered-secret-42")
    logger.warning("config: %s", "host-registered-secret-42")
    assert records[0].getMessage() == "config: ***"


def test_loading_an_account_registers_its_secrets(host_log, monkeypatch):
    logger, records = host_log
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "from-the-environment-77"}
    account = from_environment(env)
    logger.info("account %s", account.connection_values())
    stored = Account(
        "stored", "twilio", values={"account_sid": SID}, secrets={"auth_token": "in-the-file-88"}
    )
    AccountStore().save(stored)
    loaded = AccountStore().get("stored")
    logger.info("account %s", loaded.connection_values())
    texts = [r.getMessage() for r in records]
    assert "from-the-environment-77" not in texts[0] and "in-the-file-88" not in texts[1]
    assert all("'auth_token': '***'" in t for t in texts)


def test_a_bad_format_string_is_left_for_logging_to_report():
    register_secret(TOKEN)
    make = logging.getLogRecordFactory()
    record = make("host.app", logging.INFO, __file__, 1, "%d apples", ("many",), None)
    assert record.args == ("many",)  # no exception here; the handler reports it


# Credential fields, whatever the body format.

FIELDS = ["auth_token", "AuthToken", "authToken", "secret", "Secret", "api_secret", "ApiSecret"]


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize(
    "template",
    [
        '{{"sid": "AC1", "{name}": "{value}"}}',
        '{{"sid": "AC1", "{name}" : "{value}", "x": 1}}',
        "<Account><Sid>AC1</Sid><{name}>{value}</{name}></Account>",
        '<Account><Sid>AC1</Sid><{name} xml:space="preserve">{value}</{name}></Account>',
        "<Account><Sid>AC1</Sid><{name}><![CDATA[{value}]]></{name}></Account>",
        '<Account Sid="AC1" {name}="{value}"/>',
        "Sid=AC1&{name}={value}&Status=active",
        "{name}={value}&Sid=AC1",
        "sid,{name},status\nAC1,{value},active\nAC2,{value},closed\n",
        "sid,{name}\r\nAC1,{value}\r\n",
    ],
)
def test_credential_values_are_masked_in_every_format(template, name):
    value = f"leaked-{name}-value-123"
    masked = mask_text(template.format(name=name, value=value))
    assert value not in masked and "***" in masked
    assert "AC1" in masked  # the rest is kept


@pytest.mark.parametrize("text", ["secret\x00,x\na,b", "auth_token," + "x" * 200_000 + "\na,b"])
def test_text_that_is_not_csv_after_all_is_no_crash(text):
    assert mask_text(text) == text


def test_masking_leaves_other_text_alone():
    for text in ["Your code is 1234", "<Body>secretive</Body>", "secrets=", "the secret is out"]:
        assert mask_text(text) == text
    assert mask_secret_fields({"body": "hi", "n": 2, "list": [None]}) == {
        "body": "hi",
        "n": 2,
        "list": [None],
    }


def test_a_credential_found_in_a_body_is_then_redacted_everywhere(host_log):
    logger, records = host_log
    mask_text(f"<Account><AuthToken>{SUB_TOKEN}-found</AuthToken></Account>")
    logger.info("raw body was %s", f"...{SUB_TOKEN}-found...")
    assert SUB_TOKEN not in records[0].getMessage()


def test_stdout_and_stderr_are_redacted_in_the_cli(capsys):
    register_secret(TOKEN)
    with redacted_stdio():
        print(f"token {TOKEN}")
        print(f"again {TOKEN}", file=sys.stderr)
        assert sys.stdout.isatty() is False  # the rest of the stream is still there
    said = capsys.readouterr()
    assert said.out == "token ***\n" and said.err == "again ***\n"


# End to end: Twilio's XML (and CSV, form, mislabelled JSON) answers through the Custom API.

XML = f"""<?xml version='1.0' encoding='UTF-8'?>
<TwilioResponse><Accounts page="0" pagesize="50"><Account><Sid>{SID}</Sid>
<FriendlyName>Main</FriendlyName><Status>active</Status><AuthToken>{TOKEN}</AuthToken>
<Type>Full</Type></Account><Account><Sid>{SUB_SID}</Sid><FriendlyName>Sub</FriendlyName>
<Status>active</Status><AuthToken>{SUB_TOKEN}</AuthToken><Type>Full</Type></Account>
</Accounts></TwilioResponse>"""
ANSWERS = {
    "/2010-04-01/Accounts": (XML, "application/xml"),
    "/2010-04-01/Accounts.csv": (
        f"sid,friendly_name,auth_token\n{SID},Main,{TOKEN}\n{SUB_SID},Sub,{SUB_TOKEN}\n",
        "text/csv",
    ),
    "/2010-04-01/Keys.form": (f"Sid=SK1&FriendlyName=k&Secret={KEY_SECRET}", "text/plain"),
    "/2010-04-01/Sub.json": (json.dumps({"sid": SUB_SID, "AuthToken": SUB_TOKEN}), "text/html"),
    "/2010-04-01/Echo.json": (json.dumps({"said": f"your token is {TOKEN}"}), "application/json"),
}


async def answer(request: Request) -> Response:
    text, kind = ANSWERS[request.url.path]
    return Response(text, media_type=kind)


FLOW = (
    """
flo: 1
name: leaky
inputs:
  debug: {type: string, default: ""}
steps:
"""
    + "".join(
        f"""  - id: s{i}
    card: twilio.custom_api
    options: {{method: GET}}
    inputs: {{relativeUrl: "{path.removeprefix("/2010-04-01")}", headers: {{X-Debug: "${{{{ inputs.debug }}}}"}}}}
"""
        for i, path in enumerate(ANSWERS)
    )
    + "outputs:\n"
    + "".join(f"  s{i}: ${{{{ steps.s{i}.outputs.body }}}}\n" for i in range(len(ANSWERS)))
)


def test_no_token_anywhere_after_xml_and_other_answers(flo_home: Path, tmp_path: Path):
    app = Starlette(routes=[Route(path, answer) for path in ANSWERS])
    flow = tmp_path / "leaky.yaml"
    flow.write_text(FLOW)
    with ServerThread(app) as server:
        values = {"account_sid": SID, "api_base_url": server.url}
        AccountStore().save(Account("live", "twilio", values=values, secrets={"auth_token": TOKEN}))
        plain = flo("run", str(flow))
        as_json = flo("run", str(flow), "--json")
        dry = flo("run", str(flow), "--dry-run", "--input", f"debug={TOKEN}")
    assert plain.code == 0 and as_json.code == 0 and dry.code == 0, plain.err + dry.err
    run_id = json.loads(as_json.out)["run"]
    shown = flo("runs", "show", run_id, "--json")
    listed = flo("runs", "list", "--json")
    outputs = json.loads(as_json.out)["outputs"]
    assert "<AuthToken>***</AuthToken>" in outputs["s0"]  # the XML answer, masked
    assert f"{SUB_SID},Sub,***" in outputs["s1"] and "Secret=***" in outputs["s2"]
    assert '"AuthToken": "***"' in outputs["s3"] and outputs["s4"]["said"] == "your token is ***"
    assert '"X-Debug": "***"' in dry.out  # the dry run's request lines
    written = [p for p in flo_home.rglob("*") if p.is_file() and p.name != "accounts.json"]
    assert any(p.name == "runs.db" for p in written)
    everything = [plain.out, plain.err, as_json.out, as_json.err, dry.out, dry.err]
    everything += [shown.out, shown.err, listed.out]
    everything += [p.read_bytes().decode("utf-8", "replace") for p in written]
    for secret in (TOKEN, SUB_TOKEN, KEY_SECRET):
        assert not [text[:80] for text in everything if secret in text], secret


def test_a_secret_echoed_in_an_error_never_reaches_stderr(tmp_path: Path):
    async def refuse(request: Request) -> Response:
        body = {"code": 21211, "message": f"Invalid 'To'; sent with {TOKEN}", "status": 400}
        return Response(json.dumps(body), status_code=400, media_type="application/json")

    app = Starlette(
        routes=[Route(f"/2010-04-01/Accounts/{SID}/Messages.json", refuse, methods=["POST"])]
    )
    flow = tmp_path / "sms.yaml"
    flow.write_text(
        "flo: 1\nsteps:\n  - id: sms\n    card: twilio.send_sms\n"
        "    options: {from: '+15005550006'}\n    inputs: {to: '+12065551212', body: hi}\n"
    )
    with ServerThread(app) as server:
        values = {"account_sid": SID, "api_base_url": server.url}
        AccountStore().save(Account("live", "twilio", values=values, secrets={"auth_token": TOKEN}))
        said = flo("run", str(flow))
    assert said.code == 1 and "Invalid 'To'; sent with ***" in said.err
    assert TOKEN not in said.out + said.err


# Names a credential may go by, in the cases and separators is_credential_field folds, and
# others that only look like one; and strings mask_text masks and does not.
KEYS = st.sampled_from(
    ["AuthToken", "auth_token", "AUTH-TOKEN", "a_u-t_htoken", "Secret", "api-Secret",
     "API_SECRET", "s-e_cret", "to", "body", "sid", "tokens", "secretary", "Tok_en", "SE-CRET"]
)  # fmt: skip
TEXTS = st.sampled_from(
    ["hi", "", '{"AuthToken": "abc12345xyz"}', "AuthToken=abc12345xyz&To=1", "Secret",
     "<Secret>abc12345xyz</Secret>", "name,secret\nx,abc12345xyz", "tokenless? no", "Tök"]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXTS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(JSON_VALUES)
def test_masked_json_is_the_json_of_the_masked_value(value):
    """masked_json skips the masking copy only where it would change nothing."""
    expected = json.dumps(mask_secret_fields(value), ensure_ascii=False, indent=2)
    assert masked_json(value, indent=2) == expected
