"""The daemon's log file, bounded: <socket>.log rotated at LOG_MAX_BYTES, one backup (<socket>.log.1).

A daemon started on demand runs for days and its peers can make it log (bad frames, refusals), so
its log must not grow without limit. Everything the process writes goes to the current file: log
records through the handler, and whatever bypasses logging (an uncaught traceback, a library's
warnings, faulthandler) through stdout and stderr, which are pointed at the same file again after
each rotation (dup2). Rotation is checked at each record and by `check()`, which the daemon calls
periodically, so output that bypasses logging is bounded too. Disk use: at most about twice
LOG_MAX_BYTES (the file and its backup) plus one record. Files are 0600, opened with O_NOFOLLOW.
A log that cannot be written (a full disk) costs the records, never the daemon: logging swallows
handler errors (logging.raiseExceptions is turned off for the daemon).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys

LOG_MAX_BYTES = 4 << 20
LOG_BACKUPS = 1
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class DaemonLogHandler(logging.handlers.RotatingFileHandler):
    def __init__(self, path: str | os.PathLike, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS,
                 capture_std: bool = True) -> None:
        self.capture_std = capture_std
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        stream = os.fdopen(fd, "a", encoding=self.encoding, errors="backslashreplace")
        if self.capture_std:  # fds 1 and 2 follow the current file
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        return stream

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        return self._size() + 1024 >= self.maxBytes  # fstat: counts what bypassed logging too

    def _size(self) -> int:
        if self.stream is None:
            self.stream = self._open()
        self.stream.flush()
        return os.fstat(self.stream.fileno()).st_size

    def check(self) -> None:
        """Rotate now if the file is over the size (call periodically)."""
        with self.lock:
            try:
                if self._size() >= self.maxBytes:
                    self.doRollover()
            except OSError:
                pass  # a log that cannot be rotated must not stop the daemon


def log_to_file(path: str | os.PathLike, level: str = "INFO", max_bytes: int = LOG_MAX_BYTES,
                backups: int = LOG_BACKUPS, capture_std: bool = True) -> DaemonLogHandler:
    """Send the root logger (and, with capture_std, stdout/stderr) to a bounded file."""
    handler = DaemonLogHandler(path, max_bytes, backups, capture_std)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.raiseExceptions = False  # a full disk loses records silently instead of printing each failure
    return handler
