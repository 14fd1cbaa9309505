"""Units of the server <-> daemon/workspace integration: the --daemon default, daemon model
matching, the workspaceContext option and client-only keys, the cache keyed on the context,
workspace roots from initialize params, and WorkspaceSlot (a real WorkspaceContext on a temp
folder: built off the loop, replaying open documents, memoized snippets, stop)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from lsprotocol import types

from seed_lsp import options as opts
from seed_lsp.cache import CompletionCache
from seed_lsp.completer import workspace_budget
from seed_lsp.engine_factory import same_model
from seed_lsp.serve import daemon_mode, parse_args
from seed_lsp.workspace_slot import WorkspaceSlot, roots_from_params


@pytest.mark.parametrize("argv, env, want", [
    ([], {}, "auto"),
    ([], {"SEED_LSP_DAEMON": "off"}, "off"),
    ([], {"SEED_LSP_DAEMON": " OFF "}, "off"),
    ([], {"SEED_LSP_DAEMON": "bogus"}, "auto"),
    (["--daemon"], {"SEED_LSP_DAEMON": "off"}, "auto"),
    (["--daemon", "off"], {}, "off"),
    (["--daemon-socket", "/tmp/x.sock"], {"SEED_LSP_DAEMON": "off"}, "auto"),
    (["--daemon", "off", "--daemon-socket", "/tmp/x.sock"], {}, "off"),
])
def test_daemon_mode_defaults_to_auto_flag_then_socket_then_env(argv, env, want):
    assert daemon_mode(parse_args(argv), env) == want


def test_same_model_compares_resolved_directories(tmp_path):
    (tmp_path / "m").mkdir()
    assert same_model(str(tmp_path / "m"), str(tmp_path / "x" / ".." / "m"))
    assert not same_model(str(tmp_path / "m"), str(tmp_path / "other"))
    assert same_model(str(tmp_path / "m"), None)  # a daemon that does not say is trusted


def test_workspace_context_option_and_client_only_keys_are_quiet(caplog):
    with caplog.at_level(logging.WARNING, logger="seed_lsp.options"):
        o = opts.merge(opts.Options(), {"seed-lsp": {"workspaceContext": False, "command": ["seed-lsp", "serve"],
                                                     "documentSelector": ["python"], "trace": {"server": "off"}}})
    assert o.workspace_context is False and not caplog.records
    with caplog.at_level(logging.WARNING, logger="seed_lsp.options"):
        assert opts.merge(o, {"workspaceContext": "yes"}).workspace_context is False
    assert "workspaceContext" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="seed_lsp.options"):  # null: not set, quietly
        assert opts.merge(o, {"strategy": None, "maxTokens": None, "model": None}).max_tokens == o.max_tokens
    assert not caplog.records


def test_workspace_budget_is_a_quarter_of_the_window_at_most_half_the_prefix():
    assert workspace_budget(opts.Options()) == (1024 + 256) // 4 * 4
    assert workspace_budget(opts.Options(context_before=100, context_after=1000)) == 50 * 4
    assert workspace_budget(opts.Options(workspace_context=False)) == 0


def test_cache_misses_when_the_workspace_context_changed():
    cache = CompletionCache(4)
    cache.put("u", "x = ", "", "compute()", 0, "# file: a.py\ndef compute(): ...\n")
    assert cache.get("u", "x = comp", "", "# file: a.py\ndef compute(): ...\n") == ("ute()", 0)
    assert cache.get("u", "x = comp", "", "# file: a.py\ndef compute(n): ...\n") is None
    assert cache.get("u", "x = comp", "") is None


def test_roots_from_params_prefers_folders_and_skips_home_and_root(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    folders = [types.WorkspaceFolder(uri=a.as_uri(), name="a"), types.WorkspaceFolder(uri=b.as_uri(), name="b")]
    assert roots_from_params(folders, tmp_path.as_uri(), None) == [a.resolve(), b.resolve()]
    assert roots_from_params(None, tmp_path.as_uri(), None) == [tmp_path.resolve()]
    assert roots_from_params(None, None, str(a)) == [a.resolve()]
    assert roots_from_params(None, Path.home().as_uri(), None) == []
    assert roots_from_params(None, "file:///", None) == []
    assert roots_from_params(None, (tmp_path / "missing").as_uri(), None) == []
    assert roots_from_params(None, "untitled:Untitled-1", None) == []


async def test_workspace_slot_builds_off_loop_replays_open_docs_and_memoizes(tmp_path):
    (tmp_path / "util.py").write_text("def double(x):\n    return 2 * x\n\n\ndef other():\n    pass\n")
    (tmp_path / "notes.py").write_text("NOTE = 'open but unsaved'\n")
    main_uri = (tmp_path / "main.py").as_uri()
    text = "from util import double\n\ny = double("
    slot = WorkspaceSlot()
    assert slot.snippets(main_uri, text, 1000) == "" and slot.info()["state"] == "off"
    slot.start([tmp_path], asyncio.get_running_loop(), watch=False)
    assert slot.info()["state"] == "scanning"
    assert slot.snippets(main_uri, text, 1000) == ""  # not ready yet: never waited for
    slot.did_open((tmp_path / "notes.py").as_uri(), "NOTE = 'edited in the editor'\n")
    for _ in range(200):
        if slot.info()["state"] == "ready":
            break
        await asyncio.sleep(0.02)
    info = slot.info()
    assert info["state"] == "ready" and info["files"] == 2 and info["open"] == 1

    out = slot.snippets(main_uri, text, 1000)
    assert out.startswith("# file: util.py\ndef double(x):\n    return 2 * x\n")
    assert "edited in the editor" in out  # the document opened while scanning was replayed
    assert "def other" not in out
    assert slot.snippets(main_uri, text + "4)\nz = ", 1000) is out  # typing: memo hit, same object
    slot.did_change((tmp_path / "notes.py").as_uri(), "NOTE = 'changed again'\n")
    assert "changed again" in slot.snippets(main_uri, text, 1000)  # another document changed: recomputed
    assert len(slot.snippets(main_uri, text, 60)) <= 60

    slot.stop()
    assert slot.info()["state"] == "off" and slot.snippets(main_uri, text, 1000) == ""


async def test_workspace_slot_stopped_while_scanning_drops_the_late_context(tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")
    slot = WorkspaceSlot()
    slot.start([tmp_path], asyncio.get_running_loop(), watch=False)
    slot.stop()
    await asyncio.sleep(0.5)  # the build finishes; its context must not be adopted
    assert slot.info()["state"] == "off" and slot._ctx is None


def test_index_scan_stops_at_the_byte_cap_and_rejects_without_dropping_others(tmp_path):
    from seed_lsp.workspace.index import WorkspaceIndex

    for i in range(40):
        (tmp_path / f"m{i:02d}.py").write_text(f"X{i} = '{'a' * 880}'\n")
        (tmp_path / f"b{i:02d}.bin").write_bytes(b"\0" * 100)  # binaries: rejected one by one
    index = WorkspaceIndex([tmp_path], max_file_bytes=1000, max_total_bytes=10_000)
    index.scan()
    assert index.full() and 9 <= len(index.files) <= 11 and index.total_bytes <= 10_000
    kept = dict(index.files)
    assert index.update(tmp_path / "b00.bin") is False and index.files == kept  # a reject drops only itself
