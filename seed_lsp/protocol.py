"""SeedProtocol: pygls' LanguageServerProtocol with three repairs, so every request gets a reply.

1. Params that fail to parse. pygls 2.1 structures each message inside `json.loads(object_hook=...)`
   (JsonRPCProtocol.structure_message); when cattrs rejects the params it raises out of the read
   loop, which logs and drops the message: the client waits forever. Here structure_message returns
   an `Unparsed` marker instead and handle_message answers it with -32602 InvalidParams (a request),
   fails the pending future (a malformed response to one of our requests) or logs it (a notification).
2. Requests after `shutdown`: pygls ignores them; here they get -32600 InvalidRequest.
3. Expected error replies (`Reply`: cancelled, content modified, bad arguments) are sent without the
   traceback pygls logs for unexpected exceptions.

It also negotiates the position encoding: UTF-8 when the client offers it, else UTF-16.
"""
from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger("seed_lsp.protocol")


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


def _encoding_value(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


class SeedProtocol(LanguageServerProtocol):
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
            self._send_response(message.id, error=JsonRpcInvalidRequest("server is shutting down").to_response_error())
            return
        super().handle_message(message)

    def _answer_unparsed(self, m: Unparsed) -> None:
        detail = f"invalid params for {m.method or 'response'}: {m.error}"
        if m.id is not None and m.method:
            log.warning("answering -32602: %s", detail)
            self._send_response(m.id, error=JsonRpcInvalidParams(detail[:2000]).to_response_error())
        elif m.id is not None:
            future = self._request_futures.pop(m.id, None)
            if future is not None and not future.done():
                future.set_exception(JsonRpcInvalidParams(detail[:2000]))
        else:
            log.warning("dropping notification: %s", detail)

    def _send_handler_result(self, future, *, msg_id):
        if not future.cancelled() and isinstance(future.exception(), Reply):
            self._request_futures.pop(msg_id, None)
            self._send_response(msg_id, error=future.exception().to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            offered = {_encoding_value(k) for k in general.position_encodings}
            utf8 = "utf-8" in offered
            general.position_encodings = [types.PositionEncodingKind.Utf8 if utf8 else types.PositionEncodingKind.Utf16]
        return (yield from super().lsp_initialize(params))
