"""Attack, round 2: the journal's URL said carelessly or with hostile characters never shows
its password, and never puts it in a file name."""

from __future__ import annotations

import pytest

from flo_twilio.errors import InvalidInputError
from flo_twilio.runner.journal_store import open_store
from tests.inprocess import run_flo

pytest.importorskip("psycopg")

PASSWORD = "Hunter2passWORD"


@pytest.mark.parametrize("character", ["/", "?", "#", "@"])
def test_an_unencoded_character_in_the_password_is_refused_with_all_of_it_masked(character):
    """libpq reads the password up to its first '@' or '/', so the rest became a host or a
    port that its message repeated; urlsplit found no password before '/', '?' or '#', so
    the message showed the URL whole."""
    half, other = PASSWORD[:6], PASSWORD[6:]
    url = f"postgresql://flo:{half}{character}{other}@127.0.0.1:5432/flo"
    with pytest.raises(InvalidInputError) as refused:
        open_store(url, "--journal")
    said = str(refused.value)
    assert said.startswith("--journal: the journal's URL postgresql://flo:***@127.0.0.1:5432/flo")
    assert "percent-encode" in said
    assert half not in said and other not in said


def test_a_percent_encoded_password_and_an_address_without_one_are_taken():
    for url in (
        "postgresql://flo:Hunter2%2F%40%3F%23x@127.0.0.1:5432/flo",
        "postgresql://127.0.0.1:5432/flo?user=flo&password=Hunter2passWORD",
        "postgres://flo@db/flo",
    ):
        assert PASSWORD not in open_store(url, "--journal").name


def test_a_key_value_connection_string_is_refused_not_made_a_file_named_with_its_password(
    tmp_path, monkeypatch
):
    """It was taken for a SQLite file's path: flo ran and left a file named with the
    password in the working folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError) as refused:
        open_store(f"host=127.0.0.1 port=5432 dbname=flo password={PASSWORD}", "FLO_JOURNAL")
    said = str(refused.value)
    assert said.startswith("FLO_JOURNAL: the journal is given as PostgreSQL's key=value")
    assert PASSWORD not in said and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("password", ["Hunter2passWORD", "Hunter2%41passWORD"])
def test_a_url_libpq_quotes_whole_in_its_error_does_not_show_the_password(password, tmp_path):
    """An unclosed '[' made urlsplit give up, so no password was known to mask, and libpq's
    message quoted the URL whole; a percent-encoded one is quoted as written."""
    url = f"postgresql://flo:{password}@[::1"
    result = run_flo("runs", "list", "--journal", url, env={"FLO_HOME": str(tmp_path)})
    assert result.code == 2 and "cannot open the journal postgresql://flo:***@[::1" in result.err
    assert "IPv6 host address" in result.err and "Traceback" not in result.err
    assert "passWORD" not in result.out + result.err


def test_an_unencoded_ampersand_in_a_password_parameter_is_refused_with_the_rest_masked():
    """libpq ends the password at the '&' and quotes the rest as a parameter's name
    ('missing key/value separator "=" in URI query parameter: "passWORD"')."""
    for url in (
        "postgresql://flo@127.0.0.1/flo?password=Hunter2&passWORD",
        "postgresql://flo@127.0.0.1/flo?sslmode=disable&password=Hunter2&passWORD_2=1",
    ):
        with pytest.raises(InvalidInputError) as refused:
            open_store(url, "FLO_JOURNAL")
        said = str(refused.value)
        assert said.startswith("FLO_JOURNAL: the journal's URL postgresql://flo@127.0.0.1/flo?***")
        assert "& as %26" in said and "passWORD" not in said
    taken = "postgresql://flo@127.0.0.1/flo?password=Hunter2%26passWORD&sslmode=disable"
    assert "passWORD" not in open_store(taken, "FLO_JOURNAL").name


def test_libpq_s_other_secret_parameters_are_masked_too():
    url = "postgresql://flo@db/flo?oauth_client_secret=0auth-SECRET&scram_client_key=Scr4m-KEY"
    assert open_store(url, "--journal").name == (
        "postgresql://flo@db/flo?oauth_client_secret=***&scram_client_key=***"
    )
