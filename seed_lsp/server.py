"""The seed-lsp language server: state shared by the features, lifecycle, and feature registration.

SeedServer holds the options, the engine slot (model loaded off the event loop), the workspace
context slot (cross-file snippets, built off the loop), the completion cache, the jobs in flight,
and request counters. build_server() wires lifecycle handlers: initialize (options from
initializationOptions, then the enabled features are registered, so a feature the user disables is
not advertised), initialized (workspace context started from the workspace folders; settings
pulled with workspace/configuration when the client supports it), didOpen/didChange/didClose
(forwarded to the workspace context; an edit cancels stale jobs), didChangeConfiguration (pushed
settings merged, then pulled again; the model reloads when model/device change; a disabled server
answers empty), didChangeWorkspaceFolders (context rebuilt) and shutdown. Each LSP feature lives in
seed_lsp/features/<name>.py.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from seed_lsp import client_config
from seed_lsp import options as opts
from seed_lsp.cache import CompletionCache
from seed_lsp.engine_factory import EngineSlot
from seed_lsp.freshness import PendingTable
from seed_lsp.positions import LineIndex
from seed_lsp.protocol import SeedProtocol
from seed_lsp.workspace_slot import WorkspaceSlot, roots_from_params

log = logging.getLogger("seed_lsp.server")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("seed-lsp")
    except Exception:  # running from a source tree that is not installed
        return "0+local"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class RequestStats:
    """Server-side counters: completion requests, how they ended, and their latency (ms)."""

    def __init__(self) -> None:
        self.counts = {"requests": 0, "items": 0, "empty": 0, "cancelled": 0, "stale": 0, "cache_hits": 0, "errors": 0}
        self.latencies: deque[float] = deque(maxlen=1000)

    def finish(self, outcome: str, started: float) -> None:
        self.counts["requests"] += 1
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if outcome in ("items", "empty", "cache_hits"):
            self.latencies.append((time.perf_counter() - started) * 1e3)

    def snapshot(self) -> dict:
        lat = list(self.latencies)
        return dict(self.counts, latency_ms={f"p{q}": round(percentile(lat, q), 2) for q in (50, 95, 99)})


class SeedServer(LanguageServer):
    def __init__(self, defaults: opts.Options, daemon: str = "off", socket_path: str | None = None) -> None:
        super().__init__("seed-lsp", _version(), protocol_cls=SeedProtocol)
        self.options = defaults
        self.slot = EngineSlot(daemon, socket_path)
        self.cache = CompletionCache(defaults.cache_size)
        self.pending = PendingTable()
        self.stats = RequestStats()
        self.context = WorkspaceSlot()
        self.last_job: dict | None = None  # what the last model job was sent (seed.status)
        self.background: set[asyncio.Task] = set()
        self.initialized_done = False
        self._indexes: dict[str, tuple[int | None, LineIndex]] = {}
        self.ready_hooks: list = []  # called on `initialized`, inside the event loop

    @property
    def encoding(self) -> str:
        kind = self.workspace.position_encoding
        return str(getattr(kind, "value", kind) or "utf-16")

    def document(self, uri: str) -> tuple[int | None, LineIndex] | None:
        """(version, LineIndex) of an open document, or None; the index is built once per version."""
        doc = self.workspace.text_documents.get(unquote(uri))  # pygls keys documents by unquoted URI
        if doc is None:
            return None
        cached = self._indexes.get(uri)
        if cached is None or cached[0] != doc.version or cached[1].text is not doc.source:
            cached = (doc.version, LineIndex(doc.source))
            self._indexes[uri] = cached
        return cached

    def apply_settings(self, settings) -> None:
        self.options = opts.merge(self.options, settings)
        self.cache.size = self.options.cache_size
        self.slot.load(self.options)
        self.sync_context()

    def workspace_roots(self):
        ws = self.workspace
        return roots_from_params(list(ws.folders.values()), ws.root_uri, None)

    def sync_context(self, restart: bool = False) -> None:
        """Start or stop the workspace context to match the `workspaceContext` option (and roots)."""
        if not self.initialized_done:
            return  # started on `initialized`, when the loop and the folders are known
        want = self.options.workspace_context
        if want and (restart or self.context.state == "off"):
            self.context.start(self.workspace_roots(), asyncio.get_running_loop())
        elif not want and self.context.state != "off":
            self.context.stop()

    def close(self, wait: float = 0.0) -> None:
        """Stop the workspace context and close the engine (waiting up to `wait` s for a load)."""
        self.context.stop()
        self.slot.close(wait)

    def forget(self, uri: str) -> None:
        self.context.did_close(uri)
        self._indexes.pop(uri, None)
        self.cache.forget(uri)
        self.pending.document_closed(uri)


def _client_has_inline(ls: SeedServer) -> bool:
    td = ls.client_capabilities.text_document
    return bool(td is not None and getattr(td, "inline_completion", None) is not None)


def register_features(ls: SeedServer) -> None:
    from seed_lsp.features import code_actions, completion, document, fill_commands, inline_completion, status

    o = ls.options
    status.register(ls)
    document.register(ls)
    fill_commands.register(ls)
    if o.inline_completion:
        inline_completion.register(ls)
    if o.completion == "always" or (o.completion == "auto" and not _client_has_inline(ls)):
        completion.register(ls)
    if o.code_actions:
        code_actions.register(ls)


def build_server(defaults: opts.Options | None = None, daemon: str = "off", socket_path: str | None = None) -> SeedServer:
    ls = SeedServer(defaults or opts.Options(), daemon, socket_path)

    @ls.feature(types.INITIALIZE)
    def initialize(ls: SeedServer, params: types.InitializeParams) -> None:
        ls.options = opts.merge(ls.options, params.initialization_options or {})
        ls.cache.size = ls.options.cache_size
        register_features(ls)
        ls.slot.load(ls.options)

    @ls.feature(types.INITIALIZED)
    def initialized(ls: SeedServer, params: types.InitializedParams) -> None:
        for hook in ls.ready_hooks:
            hook()
        ls.initialized_done = True
        ls.sync_context()
        client_config.schedule_pull(ls)
        log.info("seed-lsp %s ready (position encoding %s)", ls.version, ls.encoding)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SeedServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.context.did_open(params.text_document.uri, params.text_document.text)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SeedServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        starts = [c.range.start.line if isinstance(c, types.TextDocumentContentChangePartial) else None
                  for c in params.content_changes]
        n = ls.pending.document_changed(uri, starts)
        if n:
            log.debug("edit made %d job(s) stale", n)
        doc = ls.document(uri)  # seed_lsp.sync applied the change before calling us
        if doc is not None:
            ls.context.did_change(uri, doc[1].text)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SeedServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: SeedServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings:
            ls.apply_settings(params.settings)
        client_config.schedule_pull(ls)  # pull-model clients send empty settings and expect a pull

    @ls.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: SeedServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        ls.sync_context(restart=True)

    @ls.feature(types.SHUTDOWN)
    def shutdown(ls: SeedServer, params=None) -> None:
        ls.close()

    return ls
