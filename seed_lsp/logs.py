"""Logging: the `seed_lsp` loggers go to stderr (never stdout: that is the LSP channel), to
--log-file when given, and, once the client is connected, to the client as window/logMessage.

The LSP handler may be called from any thread (the model load thread logs too): it hands the message
to the event loop with call_soon_threadsafe, because the stdout writer is not thread-safe.
"""
from __future__ import annotations

import asyncio
import logging
import sys

from lsprotocol import types

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LSP_LEVEL = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning,
              logging.INFO: types.MessageType.Info}


def setup_logging(level: str = "info", log_file: str | None = None) -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    ours = logging.getLogger("seed_lsp")
    ours.setLevel(lvl)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
        ours.addHandler(h)
    for name in ("runtime",):
        logging.getLogger(name).setLevel(lvl)
        for h in handlers:
            logging.getLogger(name).addHandler(h)
    # pygls logs every message it sends at INFO: keep it quiet unless debugging
    logging.getLogger("pygls").setLevel(logging.DEBUG if lvl <= logging.DEBUG else logging.WARNING)
    if lvl <= logging.DEBUG:
        logging.getLogger("pygls").addHandler(handlers[0])


class LspLogHandler(logging.Handler):
    """Forwards INFO and above to the client as window/logMessage (after `attach(loop)`)."""

    def __init__(self, ls, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.ls = ls
        self.loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        if self.loop is None or self.loop.is_closed():
            return
        kind = _LSP_LEVEL.get(record.levelno, types.MessageType.Error if record.levelno > logging.ERROR else types.MessageType.Log)
        params = types.LogMessageParams(type=kind, message=f"[{record.name}] {record.getMessage()}")
        try:
            self.loop.call_soon_threadsafe(self.ls.window_log_message, params)
        except RuntimeError:  # loop closed while shutting down
            pass
