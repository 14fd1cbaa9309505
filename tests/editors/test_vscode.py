"""The VS Code extension in a real VS Code extension host (code-server), driven through headless
chromium: install the .vsix, open a Python file, trigger an inline suggestion, accept it with Tab,
save, and check the file changed exactly as the real server proposed (read from a stdio tap).
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.editors.conftest import keep_screenshot

HERE = Path(__file__).resolve().parent
SOURCE = "def add(a, b):\n    total = a + b\n    return total\n\n\ndef mul(a, b):\n    \n"
LINE, COLUMN = 7, 5  # 1-based: the empty body of mul(), after the indent
HOLES = "def square(x):\n    return <|fill|>\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "code-server exited early"
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"code-server did not answer at {url}")


def proposals_before_edit(log: Path) -> list[tuple[dict, dict]]:
    """(request params, first item) of each answered textDocument/inlineCompletion with a non-empty
    item, up to the first edit of the document (the accept; VS Code asks again after it)."""
    requests: dict = {}
    answered = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        msg = rec.get("msg", {})
        if rec["dir"] == "in" and msg.get("method") == "textDocument/didChange":
            break
        if msg.get("method") == "textDocument/inlineCompletion":
            requests[msg["id"]] = msg["params"]
        elif rec["dir"] == "out" and msg.get("id") in requests and msg.get("result"):
            result = msg["result"]
            items = result["items"] if isinstance(result, dict) else result
            if items and (items[0].get("insertText") or "") != "":
                answered.append((requests[msg["id"]], items[0]))
    return answered


def apply_item(text: str, params: dict, item: dict) -> str:
    """The document after accepting `item` (ASCII text: LSP characters are string indices)."""
    lines = text.split("\n")

    def offset(pos: dict) -> int:
        return sum(len(line) + 1 for line in lines[: pos["line"]]) + pos["character"]

    rng = item.get("range") or {"start": params["position"], "end": params["position"]}
    insert = item["insertText"] if isinstance(item["insertText"], str) else item["insertText"]["value"]
    return text[: offset(rng["start"])] + insert + text[offset(rng["end"]):]


@pytest.mark.editor
@pytest.mark.timeout(1800)
def test_vscode_inline_suggestion_accepted_with_tab(tmp_path, editor_tools, server_cmd, server_env, server_options):
    node, code_server = editor_tools["SEED_NODE"], editor_tools["SEED_CODE_SERVER"]
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text(SOURCE)
    (ws / "b.py").write_text(HOLES)
    tap_log = tmp_path / "lsp.jsonl"
    user_dir, ext_dir = tmp_path / "user", tmp_path / "extensions"
    (user_dir / "User").mkdir(parents=True)
    settings = {
        "seed-lsp.command": [sys.executable, str(HERE / "lsp_tap.py"), str(tap_log), "--", *server_cmd],
        "seed-lsp.model": server_options["model"],
        "seed-lsp.device": server_options["device"],
        "seed-lsp.confidenceFloor": server_options["confidenceFloor"],
        "editor.inlineSuggest.enabled": True,
        "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
        "editor.suggestOnTriggerCharacters": False,
        "editor.fontSize": 15,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.colorTheme": "Default Dark Modern",
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoUpdate": False,
        "python.languageServer": "None",
        "chat.disableAIFeatures": True,
        "seed-lsp.trace.server": "verbose",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    }
    (user_dir / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = {**server_env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    common = ["--user-data-dir", str(user_dir), "--extensions-dir", str(ext_dir)]

    installed = subprocess.run(
        [node, code_server, *common, "--install-extension", editor_tools["SEED_VSIX"]],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert any(p.name.startswith("seed-lsp.seed-lsp") for p in ext_dir.iterdir()), installed.stdout

    port = free_port()
    cs_log = (tmp_path / "code-server.log").open("w")
    server = subprocess.Popen(
        [node, code_server, *common, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override", str(ws)],
        env=env, stdout=cs_log, stderr=subprocess.STDOUT,
    )
    shot = tmp_path / "vscode-ghost-text.png"
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", server)
        opts = {
            "playwright": editor_tools["SEED_PLAYWRIGHT"], "chromium": editor_tools["SEED_CHROMIUM"],
            "url": f"http://127.0.0.1:{port}", "folder": str(ws), "file": "a.py", "line": LINE, "column": COLUMN,
            "holesFile": "b.py", "screenshot": str(shot), "userDataDir": str(tmp_path / "chromium-profile"),
        }
        driver = subprocess.run(
            [node, str(HERE / "vscode_driver.mjs"), json.dumps(opts)], env=env, capture_output=True, text=True, timeout=600,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        cs_log.close()
    debug = f"\ndriver stderr:\n{driver.stderr[-3000:]}\ncode-server log:\n{(tmp_path / 'code-server.log').read_text()[-3000:]}"
    assert driver.returncode == 0, debug
    seen = json.loads(driver.stdout.strip().splitlines()[-1])

    answered = proposals_before_edit(tap_log)
    assert answered, "the server proposed nothing" + debug
    params, item = answered[-1]
    assert params["position"] == {"line": LINE - 1, "character": COLUMN - 1}
    after = (ws / "a.py").read_text()
    assert after != SOURCE, "Tab did not change the document" + debug
    assert after == apply_item(SOURCE, params, item), f"accepted text differs from the proposal {item!r}" + debug
    # What the DOM showed as ghost text is the proposal (compared without whitespace: the DOM wraps
    # lines and uses no-break spaces; VS Code draws a control character c as the symbol U+2400+c).
    def visible(text: str) -> str:
        text = "".join(chr(0x2400 + ord(c)) if ord(c) < 0x20 and c not in "\t\n" else c for c in text)
        return "".join(text.replace("\xa0", " ").split())

    assert visible(seen["ghost"]) and visible(seen["ghost"])[:40] in visible(item["insertText"]), (seen, item)
    assert shot.stat().st_size > 10_000
    # Fill Holes went through the server's workspace/applyEdit and reached the file; Toggle turned off.
    filled = (ws / "b.py").read_text()
    assert "<|fill|>" not in filled and filled.startswith("def square(x):\n    return "), filled
    assert "(off)" in seen["statusOff"]
    keep_screenshot(shot, "vscode-ghost-text.png")
