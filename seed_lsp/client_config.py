"""Pulling settings from the client: workspace/configuration, section "seed-lsp".

Clients that advertise `workspace.configuration` (VS Code's client, Neovim's) keep settings on
their side and expect the server to ask. pull(ls) asks once after `initialized` and again on every
workspace/didChangeConfiguration (whose params are often empty in this "pull" model); the answer is
merged into the same typed Options as initializationOptions (seed_lsp.options.merge), so a
pulled value overrides an initialization option. A client that fails or never answers costs a
warning, never a request: pulls run as their own tasks, with a timeout.
"""
from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

log = logging.getLogger("seed_lsp.config")

SECTION = "seed-lsp"
TIMEOUT_S = 10.0


def supported(ls) -> bool:
    ws = ls.client_capabilities.workspace
    return bool(ws is not None and ws.configuration)


async def pull(ls) -> bool:
    """Ask the client for the "seed-lsp" section and apply it; True when something was applied."""
    if not supported(ls):
        return False
    params = types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
    try:
        answer = await asyncio.wait_for(ls.workspace_configuration_async(params), TIMEOUT_S)
    except Exception as exc:  # a client bug (or a slow one) must not take the server down
        log.warning("workspace/configuration failed: %r", exc)
        return False
    section = answer[0] if isinstance(answer, (list, tuple)) and answer else None  # lsprotocol: a tuple
    if not isinstance(section, dict) or not section:
        return False  # null / {}: the client has no settings for us
    ls.apply_settings(section)
    log.debug("applied pulled configuration: %s", sorted(section))
    return True


def schedule_pull(ls) -> None:
    """pull(ls) as a task of the running loop (handlers stay synchronous and quick)."""
    if not supported(ls):
        return
    task = asyncio.get_running_loop().create_task(pull(ls))
    ls.background.add(task)  # keep a reference until done (the loop holds tasks weakly)
    task.add_done_callback(ls.background.discard)
