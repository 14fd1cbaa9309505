"""Workspace context: .gitignore matching, the index's caps and skips, watchdog keeping it current
(create / modify / rename / delete within a second), import resolution and snippets_for."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seed_lsp.workspace import WorkspaceContext
from seed_lsp.workspace.ignore import GitIgnore
from seed_lsp.workspace.imports import parse_imports
from seed_lsp.workspace.index import WorkspaceIndex
from seed_lsp.workspace.snippets import definition, outline


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def eventually(cond, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    write(root / ".gitignore", "*.log\nbuild/\n/secret.txt\ndocs/**/*.tmp\n!keep.log\n")
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "util.py", 'RATE = 3\n\n\ndef scale(x: int) -> int:\n    """Scale by RATE."""\n    return x * RATE\n\n\n'
          "class Box:\n    def __init__(self, v):\n        self.v = v\n\n    def get(self):\n        return self.v\n")
    write(root / "pkg" / "helpers.py", "def helper():\n    return 42\n")
    write(root / "app.py", "from pkg.util import scale\nfrom pkg import helpers\n\nprint(scale(2))\n")
    write(root / "run.log", "noise\n")
    write(root / "keep.log", "kept\n")
    write(root / "secret.txt", "s\n")
    write(root / "sub" / "secret.txt", "not anchored: kept\n")
    write(root / "build" / "gen.py", "x = 1\n")
    write(root / "docs" / "a" / "b" / "x.tmp", "t\n")
    write(root / "node_modules" / "m" / "index.js", "module.exports = 1\n")
    write(root / ".venv" / "lib" / "site.py", "x = 1\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    write(root / "huge.py", "x = 1\n" * 100_000)
    return root


def rels(index: WorkspaceIndex) -> set[str]:
    return {e.rel for e in index.entries()}


def test_gitignore_rules(tmp_path):
    write(tmp_path / ".gitignore", "*.log\n!keep.log\nbuild/\n/top.txt\ndocs/**/*.md\na?c.py\n[xy].txt\n")
    write(tmp_path / "nested" / ".gitignore", "local.py\n")
    gi = GitIgnore(tmp_path)
    assert gi.ignored("x.log", False) and gi.ignored("deep/dir/x.log", False)
    assert not gi.ignored("keep.log", False)
    assert gi.ignored("build", True) and gi.ignored("src/build/out.py", False)
    assert not gi.ignored("build", False)  # dir-only rule, a file named build is kept
    assert gi.ignored("top.txt", False) and not gi.ignored("sub/top.txt", False)
    assert gi.ignored("docs/md.md", False) and gi.ignored("docs/a/b/c.md", False)
    assert not gi.ignored("other/a.md", False)
    assert gi.ignored("abc.py", False) and not gi.ignored("abbc.py", False)
    assert gi.ignored("x.txt", False) and not gi.ignored("z.txt", False)
    assert gi.ignored("nested/local.py", False) and not gi.ignored("local.py", False)
    assert gi.ignored("node_modules/a/b.js", False) and gi.ignored(".git/config", False)


def test_scan_respects_gitignore_skips_binaries_huge_and_tool_dirs(project):
    index = WorkspaceIndex([project], max_file_bytes=64_000)
    index.scan()
    assert rels(index) == {".gitignore", "pkg/__init__.py", "pkg/util.py", "pkg/helpers.py", "app.py",
                           "keep.log", "sub/secret.txt"}
    assert index.total_bytes == sum(len(e.text) for e in index.entries())
    capped = WorkspaceIndex([project], max_files=3)
    capped.scan()
    assert len(capped.entries()) == 3
    small = WorkspaceIndex([project], max_total_bytes=200)
    small.scan()
    assert small.total_bytes <= 200


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watcher_follows_create_modify_rename_delete_within_a_second(project, polling):
    ctx = WorkspaceContext([project], polling=polling)
    try:
        idx = ctx.index
        new = write(project / "pkg" / "fresh.py", "def fresh():\n    return 1\n")
        assert eventually(lambda: idx.get(new) is not None, 1.5 if polling else 1.0)
        new.write_text("def fresh():\n    return 2\n")
        assert eventually(lambda: "return 2" in idx.get(new).text, 1.5 if polling else 1.0)
        renamed = project / "pkg" / "renamed.py"
        os.rename(new, renamed)
        assert eventually(lambda: idx.get(new) is None and idx.get(renamed) is not None, 1.5 if polling else 1.0)
        renamed.unlink()
        assert eventually(lambda: idx.get(renamed) is None, 1.5 if polling else 1.0)
        os.rename(project / "pkg", project / "lib")  # a whole directory moves
        assert eventually(lambda: idx.get(project / "lib" / "util.py") is not None
                          and idx.get(project / "pkg" / "util.py") is None, 1.5 if polling else 1.0)
        write(project / "debug.log", "ignored\n")
        write(project / "build" / "late.py", "ignored = 1\n")
        marker = write(project / "marker.py", "m = 1\n")
        assert eventually(lambda: idx.get(marker) is not None, 1.5 if polling else 1.0)
        assert idx.get(project / "debug.log") is None and idx.get(project / "build" / "late.py") is None
        write(project / ".gitignore", "marker*.py\n")  # a changed .gitignore takes effect
        time.sleep(0.3)
        write(project / "marker2.py", "m = 2\n")
        write(project / "debug2.log", "now indexed\n")
        assert eventually(lambda: idx.get(project / "debug2.log") is not None, 1.5 if polling else 1.0)
        assert idx.get(project / "marker2.py") is None
        assert eventually(lambda: idx.get(marker) is None and idx.get(project / "run.log") is not None,
                          1.5 if polling else 1.0)  # existing files are re-decided too
    finally:
        ctx.close()


def test_parse_imports_handles_incomplete_code():
    text = "import os, pkg.util as u\nfrom . import sibling\nfrom ..up.mod import (a,\n    b)\nfrom x import y  # c\ndef broken(:\n"
    imps = [(i.module, i.level, i.names) for i in parse_imports(text)]
    assert imps == [("os", 0, []), ("pkg.util", 0, []), ("", 1, ["sibling"]), ("up.mod", 2, ["a", "b"]),
                    ("x", 0, ["y"])]


def test_definition_and_outline():
    src = "import os\nRATE = 3\n\n@dec\ndef f(a,\n      b):\n    '''Doc line.\n    more'''\n    return a\n\nclass C:\n    def m(self):\n        pass\n"
    assert definition(src, "f") == "@dec\ndef f(a,\n      b):\n    '''Doc line.\n    more'''\n    return a"
    assert definition(src, "RATE") == "RATE = 3"
    assert definition(src, "missing") is None
    out = outline(src)
    assert "def f(a,\n      b):" in out and "Doc line." in out and "class C:" in out and "    def m(self):" in out
    assert "return a" not in out


def test_snippets_for_imports_open_files_and_budget(project):
    ctx = WorkspaceContext([project], watch=False)
    app = project / "app.py"
    text = app.read_text() + "total = scale("
    uri = app.as_uri()
    ctx.did_open(uri, text)
    other = project / "sub" / "notes.py"
    ctx.did_open(other.as_uri(), "def noted():\n    return 'n'\n")
    out = ctx.snippets_for(uri, text, budget_chars=2000)
    assert out.startswith("# file: pkg/util.py\ndef scale(x: int) -> int:")
    assert "class Box" not in out  # only the imported name's definition
    assert "# file: pkg/helpers.py\ndef helper():" in out  # `from pkg import helpers` -> the module
    assert "# file: sub/notes.py\ndef noted():" in out  # an open file
    assert "# file: app.py" not in out  # never the current file
    for budget in (0, 50, 130, 200, 400):
        assert len(ctx.snippets_for(uri, text, budget)) <= budget
    assert ctx.snippets_for(uri, text, 130).startswith("# file: pkg/util.py\n")
    ctx.did_close(other.as_uri())
    assert "notes.py" not in ctx.snippets_for(uri, text, 2000)


def test_relative_imports_and_unsaved_text(project):
    ctx = WorkspaceContext([project], watch=False)
    util = project / "pkg" / "util.py"
    text = "from .helpers import helper\n\nhelper("
    ctx.did_open(util.as_uri(), text)
    ctx.did_open((project / "pkg" / "helpers.py").as_uri(), "def helper():\n    return 'unsaved'\n")
    out = ctx.snippets_for(util.as_uri(), text, 1000)
    assert out.startswith("# file: pkg/helpers.py\ndef helper():\n    return 'unsaved'\n")
