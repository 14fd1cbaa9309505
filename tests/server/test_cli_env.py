"""`seed-lsp` sets passive OpenMP waiting for the latency-bound commands (serve, daemon, complete)
before they import torch, keeps a user's own setting, and leaves other commands alone."""
from __future__ import annotations

import os

import pytest

from seed_lsp import cli

SEEN: dict[str, str | None] = {}


def probe(argv: list[str]) -> int:
    SEEN["policy"] = os.environ.get("OMP_WAIT_POLICY")
    return 0


@pytest.mark.parametrize("command,user,expected", [
    ("serve", None, "PASSIVE"), ("daemon", None, "PASSIVE"), ("complete", None, "PASSIVE"),
    ("serve", "ACTIVE", "ACTIVE"), ("train", None, None),
])
def test_openmp_wait_policy(monkeypatch, command, user, expected):
    monkeypatch.setitem(cli.COMMANDS, command, (f"{__name__}:probe", "probe"))
    if user is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", user)
    assert cli.main([command]) == 0
    assert SEEN["policy"] == expected
