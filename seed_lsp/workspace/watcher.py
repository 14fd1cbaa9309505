"""WorkspaceWatcher: watchdog file-system events -> WorkspaceIndex updates, on watchdog's thread.

Created/modified files are (re)read, deleted files and directories forgotten, moves applied to
both ends (a file moved out of the workspace is forgotten; one moved in is read). Directory
creations are scanned (a tree moved or unpacked in arrives as one event on some platforms).
inotify is used where it works; where it cannot start (watch limits, odd file systems) a polling
observer takes over so the index still follows the disk, only slower.
"""
from __future__ import annotations

import logging
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from seed_lsp.workspace.index import WorkspaceIndex

log = logging.getLogger("seed_lsp.workspace")


def _str(p: str | bytes) -> str:
    return p.decode() if isinstance(p, bytes) else p


class _Handler(FileSystemEventHandler):
    def __init__(self, index: WorkspaceIndex) -> None:
        self.index = index

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._apply(event)
        except Exception:  # one odd event must never stop the watcher thread
            log.exception("workspace event %r failed", event)

    def _apply(self, event: FileSystemEvent) -> None:
        kind, src = event.event_type, Path(_str(event.src_path))
        if kind in ("created", "modified", "deleted", "moved") and ".gitignore" in (
                src.name, Path(_str(event.dest_path or "")).name):
            gitignore = src if src.name == ".gitignore" else Path(_str(event.dest_path))
            self.index.refresh_ignores(gitignore)
            return
        if kind == "moved":
            self.index.move(src, Path(_str(event.dest_path)))
        elif kind == "deleted":
            self.index.remove(src)
        elif kind in ("created", "modified", "closed"):
            if event.is_directory:
                if kind == "created" and not self.index.is_ignored(src, True):
                    self.index.scan_dir(src)
            else:
                self.index.update(src)


class WorkspaceWatcher:
    def __init__(self, index: WorkspaceIndex, polling: bool = False) -> None:
        self.index = index
        self.observer = self._start(PollingObserver(timeout=0.5) if polling else Observer())

    def _start(self, observer):
        try:
            for root in self.index.roots:
                observer.schedule(_Handler(self.index), str(root), recursive=True)
            observer.daemon = True
            observer.start()
            return observer
        except OSError as exc:
            if isinstance(observer, PollingObserver):
                raise
            log.warning("inotify unavailable (%s); polling the workspace instead", exc)
            return self._start(PollingObserver(timeout=0.5))

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
