"""Document sync: how a textDocument/didChange is applied to the server's copy of a document.

The server's copy must stay what the editor holds, byte for byte, whatever the client sends. The
rules (those of vscode-languageserver-textdocument, the library most clients' own copies follow):

- a change without a range replaces the whole text;
- lines end at "\\n", "\\r\\n" or "\\r" only (not at the other characters str.splitlines() splits
  on, such as "\\x0c" or "\\u2028", where pygls' own TextDocument used to count lines differently
  from the client);
- a line past the end means the end of the document; a character past the end of its line means
  the line's end (before its terminator); a character inside a UTF-16 surrogate pair (or a UTF-8
  sequence) means the start of that code point;
- a range whose start is after its end is the same range the other way round;
- the changes of one notification apply in order, each to the result of the one before;
- the notification's version is adopted even when it is not larger (a version regression is the
  client's bug; refusing the change would leave the two copies different, which is worse).

A change to a document that is not open is ignored (and logged); a notification whose params do not
parse (a negative or over-2^31 position, a missing field) is dropped whole by seed_lsp.protocol.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote

from lsprotocol import types

from seed_lsp.positions import LineIndex

log = logging.getLogger("seed_lsp.sync")


def _offset(index: LineIndex, position: types.Position, encoding: str) -> int:
    offset = index.offset(position.line, position.character, encoding)
    return len(index.text) if offset is None else offset


def apply_change(text: str, change, encoding: str) -> str:
    """`text` after one content change (the rules above)."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return change.text
    index = LineIndex(text)
    start = _offset(index, change.range.start, encoding)
    end = _offset(index, change.range.end, encoding)
    if start > end:
        start, end = end, start
    return text[:start] + change.text + text[end:]


def did_change(workspace, params: types.DidChangeTextDocumentParams, encoding: str) -> bool:
    """Apply a didChange to the workspace's copy; False when the document is not open."""
    uri = params.text_document.uri
    doc = workspace.text_documents.get(unquote(uri))
    if doc is None:
        log.warning("didChange for %s, which is not open: ignored", uri[:200])
        return False
    version = params.text_document.version
    if doc.version is not None and version is not None and version <= doc.version:
        log.warning("didChange for %s: version %s after %s (applied anyway)", uri[:200], version, doc.version)
    text = doc.source
    for change in params.content_changes:
        text = apply_change(text, change, encoding)
    workspace.put_text_document(types.TextDocumentItem(uri=doc.uri, language_id=doc.language_id or "",
                                                       version=version, text=text))
    return True
