"""Fixtures for the editor tests: the real server command, its options, and the editor tools.

The tools (Node 24, code-server, playwright-core, Debian chromium and tmux, the built .vsix) come
from .ci/editors-setup.sh, which caches them under $SEED_CI_CACHE (default ~/.cache/seed-lsp-ci) and
lists them in editors.env there. When that list is missing or stale, the fixture runs the script
itself (cold: several minutes; warm: about half a minute), so `pytest -m editor` works on a new machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / ".ci" / "editors-setup.sh"
SCREENSHOT_DIR = ROOT / "docs" / "img"


def cache_dir() -> Path:
    return Path(os.environ.get("SEED_CI_CACHE") or Path.home() / ".cache" / "seed-lsp-ci")


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _stale(tools: dict[str, str]) -> bool:
    keys = ("SEED_NODE", "SEED_CODE_SERVER", "SEED_PLAYWRIGHT", "SEED_CHROMIUM", "SEED_VSIX")
    if any(not tools.get(k) or not Path(tools[k]).exists() for k in keys) or not shutil.which("tmux"):
        return True
    vsix = Path(tools["SEED_VSIX"])
    if vsix.parent != ROOT / "editors" / "vscode":
        return True  # listed by another checkout
    sources = [*(ROOT / "editors" / "vscode" / "src").glob("*.ts"), ROOT / "editors" / "vscode" / "package.json"]
    return any(p.stat().st_mtime > vsix.stat().st_mtime for p in sources)


@pytest.fixture(scope="session")
def editor_tools(tmp_path_factory) -> dict[str, str]:
    env_file = cache_dir() / "editors.env"
    if not env_file.is_file() or _stale(_read_env(env_file)):
        log = tmp_path_factory.mktemp("setup") / "editors-setup.log"
        with log.open("w") as out:
            rc = subprocess.run(["bash", str(SETUP)], stdout=out, stderr=subprocess.STDOUT, timeout=1500).returncode
        assert rc == 0, f".ci/editors-setup.sh failed (rc {rc}):\n{log.read_text()[-4000:]}"
    tools = _read_env(env_file)
    assert not _stale(tools), f"editor tools still missing after setup: {tools}"
    return tools


@pytest.fixture
def server_env() -> dict[str, str]:
    """Environment for the server process: this checkout importable, quiet CPU threads."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    # SEED_LSP_DAEMON=off: each test owns its server and model; no daemon outlives it or is shared.
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "SEED_LSP_DAEMON": "off"}


@pytest.fixture
def server_cmd() -> list[str]:
    """The real language server on stdio, from this checkout."""
    return [sys.executable, "-m", "seed_lsp.cli", "serve"]


@pytest.fixture
def server_options(tiny_model_dir) -> dict:
    """initializationOptions: the tiny random checkpoint, on CPU, every completion shown.

    SEED_EDITOR_MODEL=/path/to/checkpoint (or `embedded`) runs the same tests on a trained model,
    which is how the README screenshots are made (with SEED_UPDATE_SCREENSHOTS=1)."""
    options = {"model": str(tiny_model_dir), "device": "cpu", "confidenceFloor": 0}
    chosen = os.environ.get("SEED_EDITOR_MODEL")
    if chosen == "embedded":
        from runtime.embedded import embedded_model_dir

        options["model"] = str(embedded_model_dir())
    elif chosen:
        options["model"] = chosen
    return options


def keep_screenshot(png: Path, name: str) -> None:
    """Copies a screenshot into docs/img when SEED_UPDATE_SCREENSHOTS=1 (the README's pictures)."""
    if os.environ.get("SEED_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, SCREENSHOT_DIR / name)
