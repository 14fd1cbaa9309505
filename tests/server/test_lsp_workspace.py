"""Workspace context and pulled configuration, end to end: a real server over stdio with a
workspace folder on disk. The job's prefix (seed.status last_job) holds the imported helper's
definition, a file changed on disk reaches the index within a second and the next job's prefix
(the completion cache, keyed on the context, does not answer with the old one), an added workspace
folder rebuilds it, the option turns it off; settings pulled with workspace/configuration override initializationOptions and are pulled
again on didChangeConfiguration."""
from __future__ import annotations

import os
import time

import pytest
from lsprotocol import types

from tests.server import lsp_helpers
from tests.server.lsp_helpers import capabilities, inline_params, open_doc, status, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="session")

HELPERS = '''import math


def scaled_norm(xs, k):
    """k times the euclidean norm."""
    return k * math.sqrt(sum(x * x for x in xs))


def unrelated():
    return 42
'''
MAIN = "from pkg.helpers import scaled_norm\n\nresult = scaled_norm([3, 4], \n"
CURSOR = (2, len("result = scaled_norm([3, 4], "))


@pytest.fixture
def project(tmp_path):
    ws = tmp_path / "proj"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "__init__.py").write_text("")
    (ws / "pkg" / "helpers.py").write_text(HELPERS)
    (ws / "main.py").write_text(MAIN)
    return ws


async def ask(client, uri: str) -> dict:
    await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
    return await status(client)


async def test_helper_definition_in_job_prefix_and_disk_change_within_a_second(tiny_model_dir, project, tmp_path):
    client = await lsp_helpers.start(tiny_model_dir, folders=[project])
    try:
        async def ready():
            s = await status(client)
            return s if s["workspace"]["state"] == "ready" else None

        st = await wait_until(ready)
        assert st["workspace"]["roots"] == [str(project.resolve())] and st["workspace"]["files"] >= 3
        uri = (project / "main.py").as_uri()
        open_doc(client, uri, MAIN)

        job = (await ask(client, uri))["last_job"]
        head = job["prefix_head"]
        assert job["uri"] == uri and job["workspace_files"] == ["pkg/helpers.py"]
        assert head.startswith("# file: pkg/helpers.py\ndef scaled_norm(xs, k):\n")
        assert "return k * math.sqrt(sum(x * x for x in xs))" in head
        assert "def unrelated" not in head  # the imported name's definition, not the whole module
        assert head.endswith(MAIN[:MAIN.index("\n", MAIN.index("result"))][-40:])  # then the document itself
        assert job["prefix_chars"] == len(MAIN.rsplit("\n", 1)[0]), "the snippets travel as the job's preamble"
        assert job["workspace_chars"] > 0
        jobs_before = (await status(client))["jobs"]

        # an atomic save (rename over the file, as editors do) from outside the workspace
        staged = tmp_path / "helpers.staged"
        staged.write_text(HELPERS.replace("def scaled_norm(xs, k):", "def scaled_norm(xs, k, *, p=2):"))
        version = st["workspace"]["version"]
        t0 = time.monotonic()
        os.replace(staged, project / "pkg" / "helpers.py")

        async def reindexed():
            s = await status(client)
            return s["workspace"]["version"] != version

        await wait_until(reindexed, timeout=5, every=0.02)
        assert time.monotonic() - t0 < 1.0, "the change reached the index too late"
        s2 = await ask(client, uri)  # same cursor, same text: only the context changed
        assert "def scaled_norm(xs, k, *, p=2):" in s2["last_job"]["prefix_head"]
        assert s2["jobs"] > jobs_before  # a model call, not the cached completion of the old context

        other = tmp_path / "other"  # a folder added to the workspace: the context is rebuilt with it
        other.mkdir()
        (other / "extra.py").write_text("EXTRA = 1\n")
        client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(added=[types.WorkspaceFolder(uri=other.as_uri(), name="other")],
                                                    removed=[])))

        async def both_roots():
            w = (await status(client))["workspace"]
            return w["state"] == "ready" and len(w["roots"]) == 2

        await wait_until(both_roots, timeout=10)

        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"seed-lsp": {"workspaceContext": False}}))
        off = await ask(client, uri)
        assert off["workspace"]["state"] == "off"
        assert off["last_job"]["workspace_chars"] == 0 and off["last_job"]["prefix_head"].startswith("from pkg")
    finally:
        await lsp_helpers.stop(client)


async def test_without_workspace_folders_there_is_no_context(lsp):
    s = await status(lsp)
    assert s["workspace"]["state"] == "off" and s["workspace"]["roots"] == []
    assert s["options"]["workspace_context"] is True


async def test_configuration_is_pulled_after_initialized_and_on_change(tiny_model_dir):
    settings = {"maxTokens": 5, "mode": "line", "command": ["seed-lsp", "serve"], "documentSelector": ["python"]}
    client = await lsp_helpers.start(tiny_model_dir, caps=capabilities(configuration=True), settings=settings)
    try:
        async def options():
            return (await status(client))["options"]

        # initializationOptions said maxTokens 6; the pulled section wins
        await wait_until(lambda: _has(options, max_tokens=5, mode="line"), timeout=10)

        client.set_configuration({"maxTokens": 7, "confidenceFloor": 0.5}, section="seed-lsp")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        o = await wait_until(lambda: _has(options, max_tokens=7, confidence_floor=0.5), timeout=10)
        assert o["mode"] == "line"  # merged into the options, not a reset to defaults
    finally:
        await lsp_helpers.stop(client)


async def _has(options, **want):
    o = await options()
    return o if all(o[k] == v for k, v in want.items()) else None
