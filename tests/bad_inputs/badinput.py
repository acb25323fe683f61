"""Helpers of the bad-input corpus (a plain module: ``from conftest import`` is ambiguous here)."""

from __future__ import annotations

import re

from shoptest import fic_documents, sandbox_emails


def assert_nothing_written(context, sandbox=None) -> None:
    """No document row (not even an intent), no job, no send in the shop; nothing in FiC."""
    db = context.store.db
    assert db.execute("SELECT COUNT(*) FROM fic_documents").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM fic_sends").fetchone()[0] == 0
    if sandbox is not None:
        assert fic_documents(sandbox, include_deleted=True) == []
        assert sandbox_emails(sandbox) == []


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
