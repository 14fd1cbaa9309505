"""textDocument/inlineCompletion (LSP 3.18): ghost text at the cursor from one infill job.

One item at most. Its insertText is the model's text and its range starts at the cursor and covers
any text after the cursor that the completion types again, so accepting replaces it instead of
duplicating it (see seed_lsp.postprocess). The work is seed_lsp.completer.suggest.
"""
from __future__ import annotations

from lsprotocol import types

from seed_lsp.completer import suggest


async def inline_completion(ls, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    placed = await suggest(ls, params.text_document.uri, params.position)
    if placed is None:
        return types.InlineCompletionList(items=[])
    item = types.InlineCompletionItem(insert_text=placed.suggestion.insert_text, range=placed.range)
    return types.InlineCompletionList(items=[item])


def register(ls) -> None:
    ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
