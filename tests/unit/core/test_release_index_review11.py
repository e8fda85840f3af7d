"""Review 11a reproduction for core/release_index.py (fails on main 1222a46)."""

from __future__ import annotations

from gitops_release.core.db import load_db
from gitops_release.core.release_index import build_index, releases_body
from tests.fixtures.serve_api import db_text, release


def test_a_strong_etag_names_one_body():
    """RFC 9110 8.8.1: a strong ETag changes whenever the bytes do. The body carries loadedAt,
    the ETag does not: two replicas (or one after A -> B -> A) answer different bytes under one
    strong ETag. Either make it weak (W/"...") or keep loadedAt out of the body."""
    db = load_db(db_text([release("app", "dev")]))
    first = build_index(db, loaded_at="2026-01-01T00:00:00Z", revision="sha256:abc")
    second = build_index(db, loaded_at="2026-01-01T00:05:00Z", revision="sha256:abc")
    body_1, _ = releases_body(first, container="app", channel=None)
    body_2, _ = releases_body(second, container="app", channel=None)
    assert first.etag.startswith("W/") or body_1 == body_2 or first.etag != second.etag
