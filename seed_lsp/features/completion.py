"""textDocument/completion: the fallback for clients without inline completion.

One item whose textEdit is the same edit the inline item would make (insert at the cursor, or
replace the overlap after it). Registered only for clients that do not advertise inline completion,
unless the "completion" option says "always" (or "off").
"""
from __future__ import annotations

from lsprotocol import types

from seed_lsp.completer import suggest


async def completion(ls, params: types.CompletionParams) -> types.CompletionList:
    placed = await suggest(ls, params.text_document.uri, params.position)
    if placed is None:
        return types.CompletionList(is_incomplete=True, items=[])
    text = placed.suggestion.insert_text
    label = text.strip().splitlines()[0][:60] if text.strip() else text
    item = types.CompletionItem(
        label=label, kind=types.CompletionItemKind.Snippet, detail="seed-lsp", filter_text=text,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=placed.range, new_text=text), sort_text="0",
    )
    # incomplete: typing more must ask again (the cache answers at once when it can)
    return types.CompletionList(is_incomplete=True, items=[item])


def register(ls) -> None:
    ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())(completion)
