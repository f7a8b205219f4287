"""A real PostgreSQL server for the tests (tests/postgres_server.py): one per session, a
fresh empty database per test. With no server to run, the tests that need one are skipped,
and fail in CI (``CI=true``), which must provision it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres_server import PostgresServer, ServerUnavailable, start_server

__all__ = ["PostgresServer", "flo_db", "journal_at", "postgres", "postgres_url"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session."""
    try:
        server = start_server()
    except ServerUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must provision PostgreSQL for these tests: {error}")
        pytest.skip(f"no PostgreSQL server to test with: {error}")
    yield server
    server.discard()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh empty database on the session's server, dropped after the test."""
    url = postgres.create_database()
    yield url
    # A test may leave the server stopped: the session's folder goes anyway.
    with contextlib.suppress(Exception):
        postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def journal_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's journal lives, once in each store: a SQLite file, then a fresh
    PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "runs.db"
    return str(request.getfixturevalue("postgres_url"))


def flo_db(url: str, **options: Any) -> Any:
    """A psycopg connection to ``url`` that sees flo's tables (their schema first)."""
    import psycopg

    from flo_twilio.runner.journal_postgres import SCHEMA

    return psycopg.connect(url, options=f"-c search_path={SCHEMA}", **options)
