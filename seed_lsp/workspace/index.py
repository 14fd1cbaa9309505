"""WorkspaceIndex: the text files of the workspace folders, in memory, kept current by events.

scan() walks each root once (pruning ignored and never-read directories); update(path), remove(path)
and move(src, dst) apply one file-system event (files or whole directories). Only text files are
kept: binaries (a NUL byte or invalid UTF-8 in the head) and files above max_file_bytes are left out,
and the index stops growing at max_files files or max_total_bytes of text. Thread-safe: the watcher
thread writes while the language server reads.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from seed_lsp.workspace.ignore import GitIgnore

SNIFF_BYTES = 8192


@dataclass
class FileEntry:
    path: Path  # absolute
    root: Path  # the workspace folder it belongs to
    rel: str  # posix path relative to root
    text: str
    mtime: float
    touched: float  # when it last changed (disk mtime, or an edit in the editor)


def read_text_file(path: Path, max_bytes: int) -> str | None:
    """The file's text, or None if it is not a regular text file of at most max_bytes bytes."""
    try:
        if not path.is_file() or path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > max_bytes or b"\0" in data[:SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class WorkspaceIndex:
    def __init__(self, roots: list[str | Path], max_files: int = 5000, max_file_bytes: int = 256_000,
                 max_total_bytes: int = 32_000_000) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.max_files, self.max_file_bytes, self.max_total_bytes = max_files, max_file_bytes, max_total_bytes
        self.files: dict[Path, FileEntry] = {}
        self.total_bytes = 0
        self.ignores = {root: GitIgnore(root) for root in self.roots}
        self.lock = threading.RLock()
        self.version = 0  # bumped on every change (tests and caches watch it)

    # --- queries ---------------------------------------------------------------------------
    def get(self, path: str | Path) -> FileEntry | None:
        with self.lock:
            return self.files.get(Path(path))

    def entries(self) -> list[FileEntry]:
        with self.lock:
            return list(self.files.values())

    def locate(self, path: Path) -> tuple[Path, str] | None:
        """(root, posix relative path) for a path inside one of the roots (the innermost root)."""
        best = None
        for root in self.roots:
            try:
                rel = path.relative_to(root).as_posix()
            except ValueError:
                continue
            if best is None or len(root.parts) > len(best[0].parts):
                best = (root, rel)
        return best

    def is_ignored(self, path: Path, is_dir: bool) -> bool:
        where = self.locate(path)
        return where is None or self.ignores[where[0]].ignored(where[1], is_dir)

    # --- changes ---------------------------------------------------------------------------
    def scan(self) -> None:
        for root in self.roots:
            self.scan_dir(root)

    def scan_dir(self, directory: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(directory):
            base = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not self.is_ignored(base / d, True))
            for name in sorted(filenames):
                if self.full():
                    return  # a cap is reached: walking further only reads files to reject them
                self.update(base / name, touched=None)

    def full(self) -> bool:
        """No room for another file of the largest size we keep."""
        return (len(self.files) >= self.max_files
                or self.total_bytes > self.max_total_bytes - self.max_file_bytes)

    def update(self, path: str | Path, touched: float | None = 0.0) -> bool:
        """(Re)read one file; drop it if it is no longer indexable. True when it is indexed.

        touched: when it changed (0.0 = now; None = its mtime, for the initial scan).
        """
        path = Path(path)
        if path.name == ".gitignore":
            where = self.locate(path)
            if where is not None:
                self.ignores[where[0]].forget(where[1])
        where = self.locate(path)
        if where is None or self.is_ignored(path, False):
            self._drop(path)
            return False
        text = read_text_file(path, self.max_file_bytes)
        if text is None:
            self._drop(path)
            return False
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return False
        with self.lock:
            old = self.files.get(path)
            size = len(text)
            growth = size - (len(old.text) if old else 0)
            if old is None and len(self.files) >= self.max_files:
                return False
            if self.total_bytes + growth > self.max_total_bytes:
                return False
            stamp = mtime if touched is None else (touched or time.time())
            self.files[path] = FileEntry(path, where[0], where[1], text, mtime, stamp)
            self.total_bytes += growth
            self.version += 1
        return True

    def refresh_ignores(self, gitignore: Path) -> None:
        """A .gitignore changed: re-decide every file below its directory."""
        where = self.locate(gitignore)
        if where is None:
            return
        self.ignores[where[0]].forget(where[1])
        if not gitignore.exists():
            self.remove(gitignore)
        directory = gitignore.parent
        with self.lock:
            below = [p for p in self.files if directory in p.parents]
        for p in below:
            if self.is_ignored(p, False):
                self.remove(p)
        self.scan_dir(directory)

    def _drop(self, path: Path) -> None:
        """Forget one file (a dict lookup: update() calls this for every file it rejects, and
        remove()'s directory walk over all files would make a scan quadratic)."""
        with self.lock:
            old = self.files.pop(path, None)
            if old is not None:
                self.total_bytes -= len(old.text)
                self.version += 1

    def remove(self, path: str | Path) -> None:
        """Forget a file, or every file under a directory."""
        path = Path(path)
        with self.lock:
            doomed = [p for p in self.files if p == path or path in p.parents]
            for p in doomed:
                self.total_bytes -= len(self.files.pop(p).text)
            if doomed:
                self.version += 1

    def move(self, src: str | Path, dst: str | Path) -> None:
        src, dst = Path(src), Path(dst)
        self.remove(src)
        if dst.is_dir():
            self.scan_dir(dst)
        else:
            self.update(dst)
