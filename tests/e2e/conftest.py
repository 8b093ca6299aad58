"""End-to-end fixtures: a master key of the test session's own, never the user's."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _test_master_key(tmp_path_factory):
    """Flash and push derive device keys from GAITLOOP_KEY_FILE: point it into the test's
    temporary folder (created 0600 on first use), for this process and the CLIs it runs."""
    old = os.environ.get("GAITLOOP_KEY_FILE")
    os.environ["GAITLOOP_KEY_FILE"] = str(tmp_path_factory.mktemp("keys") / "master.key")
    yield
    if old is None:
        os.environ.pop("GAITLOOP_KEY_FILE", None)
    else:
        os.environ["GAITLOOP_KEY_FILE"] = old
