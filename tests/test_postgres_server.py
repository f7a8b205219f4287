"""The tests' PostgreSQL server (tests/postgres.py): reachable with its password only,
a fresh database per test, and a restart that cuts connections and comes back."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")


def test_each_test_gets_a_fresh_empty_database(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        connection.execute("CREATE TABLE scratch (n int)")
    assert tables == (0,)


def test_a_wrong_password_is_refused(postgres, postgres_url):
    wrong = postgres_url.replace(postgres.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


@pytest.mark.slow
def test_a_restart_cuts_connections_and_the_server_comes_back(postgres, postgres_url):
    connection = psycopg.connect(postgres_url, autocommit=True)
    postgres.restart()
    with pytest.raises(psycopg.OperationalError):
        connection.execute("SELECT 1")
    connection.close()
    with psycopg.connect(postgres_url) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)
