"""The Oscar project's end-to-end tests again on PostgreSQL: Django's data and the plugin's tables in
one database, the job written in the shop's transaction. A separate run, because Django's
settings are configured once per process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ON_POSTGRES

HERE = Path(__file__).parent
URL = os.environ.get("FIC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_answers() -> bool:
    import psycopg

    from shoptest import skip_only_if_no_server

    try:
        psycopg.connect(URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        skip_only_if_no_server("PostgreSQL", URL, "FIC_TEST_POSTGRES_URL", error)
    return True


@pytest.mark.skipif(ON_POSTGRES, reason="this is the PostgreSQL run itself")
def test_oscar_end_to_end_and_outbox_on_postgresql():
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {URL}: set FIC_TEST_POSTGRES_URL")
    name = f"fic_django_{secrets.token_hex(4)}"
    env = {**os.environ, "FIC_TEST_DJANGO_DATABASE": "postgres", "FIC_TEST_DJANGO_DB_NAME": name}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
             str(HERE / "test_oscar_invoice.py"), str(HERE / "test_outbox.py"), str(HERE / "test_management.py")],
            cwd=HERE.parents[1], env=env, capture_output=True, text=True, timeout=900)
    finally:
        # Django drops its test database at the end, unless a connection still holds it: never
        # leave one behind on the shared server.
        import psycopg

        with psycopg.connect(URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1]
