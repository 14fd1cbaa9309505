"""Helpers for the end-to-end server tests: a real pytest-lsp client talking over stdio to a real
`python -m seed_lsp.serve` with a tiny random checkpoint.

Random weights write random text, so the shared server runs with confidenceFloor 0 (every non-blank
completion becomes an item) and small token budgets (fast on busy CPUs). Servers run with
`--daemon off` (the default, auto, would start a workstation daemon that outlives the test); the
daemon tests pass their own temporary socket and stop what they start.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import json
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from seed_lsp.edits import Edit, apply_edits
from seed_lsp.positions import LineIndex

FAST_OPTIONS = {"confidenceFloor": 0.0, "maxTokens": 6, "contextBefore": 256, "contextAfter": 64, "cacheSize": 32,
                "completion": "always"}
_ids = itertools.count(1000)


def capabilities(inline: bool = True, encodings=("utf-16",), document_changes: bool = True,
                 configuration: bool = False) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=list(encodings)),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
            completion=types.CompletionClientCapabilities(),
            code_action=types.CodeActionClientCapabilities(),
        ),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=document_changes),
            configuration=configuration),
    )


async def start(model_dir, options: dict | None = None, caps: types.ClientCapabilities | None = None,
                base: dict | None = None, folders: list | None = None, settings: dict | None = None,
                daemon: str | None = "off", env: dict | None = None):
    """A started, initialized client; .applied collects the WorkspaceEdits the server sent.

    folders: workspace folders (paths); settings: the "seed-lsp" section the client answers to
    workspace/configuration with (pair it with capabilities(configuration=True)).
    daemon: the --daemon flag (None: none, the server's default); env: the server's whole environment."""
    cmd = [sys.executable, "-m", "seed_lsp.serve", "--model", str(model_dir), "--device", "cpu", "--log-level", os.environ.get("SEED_TEST_LOG", "warning")]
    cmd += ["--daemon", daemon] if daemon else []
    client: LanguageClient = await ClientServerConfig(server_command=cmd, server_env=env).start()
    client.applied = []
    if settings is not None:  # pytest-lsp's client answers workspace/configuration from these
        client.set_configuration(settings, section="seed-lsp")

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        client.applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    workspace_folders = [types.WorkspaceFolder(uri=Path(f).as_uri(), name=Path(f).name) for f in folders or []]
    client.init_result = await client.initialize_session(types.InitializeParams(
        capabilities=caps or capabilities(), workspace_folders=workspace_folders or None,
        initialization_options=dict(FAST_OPTIONS if base is None else base, **(options or {}))))
    return client


async def stop(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


def open_doc(client, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))


def send(client, method: str, params):
    """(message id, asyncio future) of a request sent with a known id (so it can be cancelled)."""
    msg_id = next(_ids)
    # a task, so that the request is written now (pytest-lsp's send_request_async is a coroutine)
    return msg_id, asyncio.ensure_future(client.protocol.send_request_async(method, params, msg_id=msg_id))


def cancel(client, msg_id: int) -> None:
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


def raw_request(client, method: str, params, msg_id=None):
    """Send a request as raw JSON (any params, even invalid ones); the future resolves to the raw
    result. (Also sidesteps lsprotocol's client-side parse of a CodeAction with a command, which it
    mistakes for a Command.)"""
    msg_id = msg_id or f"raw-{next(_ids)}"
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    fut = asyncio.get_running_loop().create_future()
    client.protocol._request_futures[msg_id] = fut
    client.protocol._result_types[msg_id] = None
    client.protocol.writer.write(f"Content-Length: {len(body.encode())}\r\n\r\n{body}".encode())
    return fut


async def command(client, name: str, *args):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(args)))


async def status(client) -> dict:
    return await command(client, "seed.status")


def apply_text_edits(text: str, edits, encoding: str = "utf-16") -> str:
    """Apply LSP TextEdits to text as a client would (all ranges refer to the original text)."""
    index = LineIndex(text)
    spans = [Edit(index.offset(e.range.start.line, e.range.start.character, encoding),
                  index.offset(e.range.end.line, e.range.end.character, encoding), e.new_text) for e in edits]
    return apply_edits(text, spans)


def workspace_text_edits(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    if edit.document_changes:
        return [e for dc in edit.document_changes if dc.text_document.uri == uri for e in dc.edits]
    return list((edit.changes or {}).get(uri, []))


async def wait_until(predicate, timeout: float = 20.0, every: float = 0.05):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError("condition not met in time")
