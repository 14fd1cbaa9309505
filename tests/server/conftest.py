"""Fixtures for the language-server tests: one shared server (a real subprocess over stdio) for the
whole session, because starting one costs seconds (Python + torch import) and the tests that share
it leave no state that matters to the others (each uses its own document URIs)."""
from __future__ import annotations

import pytest_asyncio

from tests.server import lsp_helpers


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lsp(tiny_model_dir):
    client = await lsp_helpers.start(tiny_model_dir)
    yield client
    await lsp_helpers.stop(client)
