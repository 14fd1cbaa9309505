"""SeedProtocol: pygls' LanguageServerProtocol made to answer every request exactly once.

A request is a JSON object with a string "method" and an "id" that is an integer or a string (JSON-RPC
2.0; LSP). receive(body) takes one framed message (seed_lsp/transport.py reads the frames) and:

- answers -32601 MethodNotFound a request for an unknown method (with or without params), for the
  empty method, or for a notification method (`{"id": 7, "method": "textDocument/didClose"}`: by
  JSON-RPC a message with an id is a request; the notification's effect is not applied);
- answers -32600 InvalidRequest a request whose "jsonrpc" is not "2.0" or whose method is not a
  string, a second `initialize`, and any request after `shutdown`; -32002 ServerNotInitialized a
  request before `initialize`;
- answers -32602 InvalidParams a request whose params do not parse (pygls 2.1 would raise out of its
  read loop and drop it: structure_message returns an `Unparsed` marker instead);
- drops, with a log line, what cannot be answered: bodies that are not JSON or not an object, ids of
  another type (null, 1.5, true, objects: vscode-jsonrpc drops these too), notifications that do
  not parse, unknown notifications; a malformed response to one of our requests fails its future;
- sends expected error replies (`Reply`, and pygls' own JsonRpcExceptions) without a traceback;
- takes every handler's future out of pygls' request table when it is done (pygls kept those of
  executeCommand's steps, and their results, for good).

`exit` ends the read loop through `on_exit` (the transport's stop) instead of pygls' sys.exit in
the middle of it; didChange is applied by seed_lsp.sync (LSP line ends, clamped ranges). The
position encoding is negotiated: UTF-8 when the client offers it, else UTF-16.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

import attrs
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from seed_lsp import sync

log = logging.getLogger("seed_lsp.protocol")
# the id of an object whose members before it are only "jsonrpc" and "method" (how clients write them)
_SNIFF_ID = re.compile(rb'^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*"(?:[^"\\]|\\.)*"\s*,)*'
                       rb'\s*"id"\s*:\s*(-?\d{1,30}|"(?:[^"\\]|\\.){0,200}")')


class Reply(JsonRpcException):
    """An error answer that is part of normal operation (no traceback in the log)."""


class RequestCancelled(Reply):
    CODE = -32800


class ContentModified(Reply):
    CODE = -32801


class InvalidParams(Reply):
    CODE = -32602


class Unparsed:
    """A message whose params did not parse."""

    def __init__(self, data: dict, error: Exception) -> None:
        self.data, self.error = data, error
        self.id = data.get("id")
        self.method = data.get("method")


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _encoding_value(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


def _short(value: Any, n: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n] + "..."


class SeedProtocol(LanguageServerProtocol):
    on_exit: Callable[[], None] | None = None  # set by the transport: stop reading
    exit_code: int | None = None  # 0: exit after shutdown, 1: exit without it (LSP)
    initialize_seen = False

    # --- intake ---------------------------------------------------------------------------------
    def receive(self, body: bytes) -> None:
        """One framed body: parsed, checked, answered or dispatched. Never raises."""
        try:
            data = json.loads(body)
        except ValueError as exc:  # not JSON, or not UTF-8
            log.warning("dropping a %d-byte message that is not JSON: %s", len(body), str(exc)[:200])
            return
        self.receive_object(data)

    def receive_object(self, data) -> None:
        """One parsed message (receive's second half; the TCP gate parses the first one itself)."""
        if not isinstance(data, dict):
            log.warning("dropping a message that is not a JSON object (%s)", type(data).__name__)
            return
        try:
            message = self._admit(data)
            if message is not None:
                self.handle_message(message)
        except Exception:  # a bug in a handler's dispatch must not end the read loop
            log.exception("failed to handle %s", _short(data.get("method") or data.get("id")))
            if "method" in data and valid_id(data.get("id")):
                self._error(data["id"], JsonRpcException("internal error"))

    def receive_oversize(self, length: int, head: bytes, limit: int) -> None:
        """A message longer than the transport's limit (its body was skipped, never held): a
        request whose id leads the body is answered -32600."""
        match = _SNIFF_ID.match(head)
        log.warning("skipped a %d-byte message (limit %d)", length, limit)
        if match:
            try:
                msg_id = json.loads(match.group(1))
            except ValueError:
                return
            self._error(msg_id, JsonRpcInvalidRequest(f"message of {length} bytes exceeds the {limit}-byte limit"))

    def _admit(self, data: dict):
        """The structured message to dispatch, or None when it was answered or dropped here."""
        has_id, msg_id = "id" in data, data.get("id")
        if has_id and not valid_id(msg_id):
            log.warning("dropping a message whose id is not an integer or a string: %s", _short(msg_id))
            return None
        if "method" not in data:
            if not has_id:
                log.warning("dropping a message with neither method nor id")
                return None
            return self.structure_message(data)  # a response to one of our requests
        method = data["method"]
        if not isinstance(method, str) or data.get("jsonrpc") != "2.0":
            if has_id:
                self._error(msg_id, JsonRpcInvalidRequest("expected a JSON-RPC 2.0 request with a string method"))
            else:
                log.warning("dropping an invalid notification: %s", _short(method))
            return None
        kind = self._kind(method)
        if has_id:
            if not self.initialize_seen and method != types.INITIALIZE:
                self._error(msg_id, JsonRpcServerNotInitialized("the server is not initialized"))
                return None
            if kind != "request":
                what = "a notification; it takes no id" if kind == "notification" else "not handled by this server"
                self._error(msg_id, JsonRpcMethodNotFound(f"{method!r} is {what}"))
                return None
            if method == types.INITIALIZE and self.initialize_seen:
                self._error(msg_id, JsonRpcInvalidRequest("initialize may be sent only once"))
                return None
        elif kind != "notification" or (not self.initialize_seen and method != types.EXIT):
            if kind == "request":
                log.warning("dropping %s sent without an id", method)
            return None  # unknown notifications are ignored (LSP); before initialize only exit counts
        return self.structure_message(data)

    def _kind(self, method: str) -> str | None:
        """"request", "notification" or None (not an LSP method, or not one this server handles)."""
        handled = method == types.CANCEL_REQUEST or method in self.fm.builtin_features or method in self.fm.features
        if not handled:  # ($/cancelRequest is pygls' own, outside the feature tables)
            return None
        cls = self.get_message_type(method)
        if cls is None or not attrs.has(cls):
            return None
        return "request" if "id" in attrs.fields_dict(cls) else "notification"

    def _error(self, msg_id, exc: JsonRpcException) -> None:
        log.warning("answering %d to %s: %s", exc.code, _short(msg_id), str(exc)[:300])
        self._send_response(msg_id, error=exc.to_response_error())

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            return Unparsed(data, exc.__cause__ or exc)

    def handle_message(self, message):
        if isinstance(message, Unparsed):
            self._answer_unparsed(message)
            return
        if self._shutdown and getattr(message, "method", None) not in (None, types.EXIT) and hasattr(message, "id"):
            self._error(message.id, JsonRpcInvalidRequest("server is shutting down"))
            return
        super().handle_message(message)

    def _answer_unparsed(self, m: Unparsed) -> None:
        detail = f"invalid params for {m.method or 'response'}: {m.error}"
        if m.id is not None and "method" in m.data:
            self._error(m.id, JsonRpcInvalidParams(detail[:2000]))
        elif m.id is not None:
            future = self._request_futures.pop(m.id, None)
            if future is not None and not future.done():
                future.set_exception(JsonRpcInvalidParams(detail[:2000]))
        else:
            log.warning("dropping notification: %s", detail[:2000])

    def _send_handler_result(self, future, *, msg_id):
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, JsonRpcException):
            self._request_futures.pop(msg_id, None)
            if not isinstance(exc, Reply):
                log.warning("answering %d to %s: %s", exc.code, _short(msg_id), str(exc)[:300])
            self._send_response(msg_id, error=exc.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):
        """pygls keeps each handler's future in _request_futures under its id, and pops it only for
        a request's own id: the steps of a generator handler (executeCommand running an async
        command, seed.status included) stayed there for good, each holding its result (30,000
        fuzzed messages: RSS +36 MB before, +5 MB after). Here every future leaves the table when
        done."""
        def done(future, callback=callback):
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]
            callback(future)

        super()._execute_handler(msg_id, handler, done, args, kwargs)

    # --- lifecycle and document sync ------------------------------------------------------------
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        self.initialize_seen = True
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            offered = {_encoding_value(k) for k in general.position_encodings}
            utf8 = "utf-8" in offered
            general.position_encodings = [types.PositionEncodingKind.Utf8 if utf8 else types.PositionEncodingKind.Utf16]
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args) -> None:
        self.exit_code = 0 if self._shutdown else 1
        if self.on_exit is not None:
            self.on_exit()

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        encoding = _encoding_value(self.workspace.position_encoding or "utf-16")
        if not sync.did_change(self.workspace, params, encoding):
            return
        if (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield user_handler, (params,), None
