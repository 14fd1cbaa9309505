"""workspace/executeCommand seed.document [{uri}]: the server's copy of an open document.

Answers {"uri", "version", "text", "sha256"} (sha256 of the UTF-8 text, surrogates kept as they are)
or null when the document is not open: a client, a test or a bug report can check that the server
holds exactly what the editor holds (tests/server/test_fuzz_lsp.py does after every edit). The text
is the client's own, so answering it discloses nothing. Bad arguments answer -32602.
"""
from __future__ import annotations

import hashlib

from seed_lsp.protocol import InvalidParams


def snapshot(ls, uri: str) -> dict | None:
    doc = ls.document(uri)
    if doc is None:
        return None
    version, index = doc
    digest = hashlib.sha256(index.text.encode("utf-8", "surrogatepass")).hexdigest()
    return {"uri": uri, "version": version, "text": index.text, "sha256": digest}


async def document(ls, *args) -> dict | None:
    arg = args[0] if args else None
    if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str):
        raise InvalidParams("expected [{uri}]")
    return snapshot(ls, arg["uri"])


def register(ls) -> None:
    ls.command("seed.document")(document)
