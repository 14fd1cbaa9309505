"""textDocument/codeAction: offers seed.fillSelection for a non-empty selection and seed.fillHoles
when the document holds `<|fill|>` markers. The actions carry commands; the work happens when the
client executes them (seed_lsp.features.fill_commands)."""
from __future__ import annotations

from lsprotocol import types

from seed_lsp.holes import MARKER

KIND = types.CodeActionKind.RefactorRewrite


def actions_for(uri: str, rng: types.Range, text: str | None) -> list[types.CodeAction]:
    out = []
    if rng.start != rng.end:
        arg = {"uri": uri, "range": {"start": {"line": rng.start.line, "character": rng.start.character},
                                     "end": {"line": rng.end.line, "character": rng.end.character}}}
        out.append(types.CodeAction(title="Rewrite selection with seed-lsp", kind=KIND,
                                    command=types.Command(title="Fill selection", command="seed.fillSelection", arguments=[arg])))
    holes = text.count(MARKER) if text else 0
    if holes:
        title = f"Fill {holes} {MARKER} hole{'s' if holes > 1 else ''} with seed-lsp"
        out.append(types.CodeAction(title=title, kind=KIND,
                                    command=types.Command(title="Fill holes", command="seed.fillHoles", arguments=[{"uri": uri}])))
    return out


def code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = ls.document(params.text_document.uri)
    if doc is None or not ls.options.enable:
        return []
    return actions_for(params.text_document.uri, params.range, doc[1].text)


def register(ls) -> None:
    ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[KIND]))(code_action)
