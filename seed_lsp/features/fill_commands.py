"""workspace/executeCommand seed.fillSelection and seed.fillHoles: diffusion-native diff edits.

seed.fillSelection [{uri, range}]: the selected text becomes the gap (its token count sets the gap
length; the gap may grow or shrink), the result is diffed against the old text, and only the changed
spans go to the client as minimal TextEdits in one workspace/applyEdit.
seed.fillHoles [{uri}]: every `<|fill|>` marker (seed_lsp.holes) is a gap; all gaps are denoised
jointly in ONE job, each seeing the others being filled, and applied as one atomic WorkspaceEdit.

Like completions, both jobs get the workspace context (cross-file snippets) before their prefix.
Both answer {"applied": bool, "edits": n, ...}; a document edited while the job ran is not touched
(the edit is versioned when the client supports versioned edits, and checked here before sending).
Bad arguments answer -32602.
"""
from __future__ import annotations

from lsprotocol import types

from seed_lsp.completer import await_job, workspace_snippets
from seed_lsp.budget import budget
from seed_lsp.context import CHARS_PER_TOKEN, window_after, window_before
from seed_lsp.edits import Edit, minimal_edits
from seed_lsp.holes import MARKER, split_holes
from seed_lsp.postprocess import clean
from seed_lsp.protocol import InvalidParams

MAX_SELECTION_TOKENS = 1024
MAX_HOLES = 32


def parse_target(args: tuple, need_range: bool) -> tuple[str, tuple[int, int, int, int] | None]:
    """(uri, (start line, start char, end line, end char) | None) from [{uri, range?}]."""
    arg = args[0] if args else None
    if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str):
        raise InvalidParams("expected [{uri, range}]")
    if not need_range:
        return arg["uri"], None
    try:
        r = arg["range"]
        nums = (r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"])
    except (KeyError, TypeError) as exc:
        raise InvalidParams(f"expected [{{uri, range}}]: missing {exc}") from None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in nums):
        raise InvalidParams("range positions must be non-negative integers")
    return arg["uri"], nums


def workspace_edit(ls, uri: str, version: int | None, index, edits: list[Edit]) -> types.WorkspaceEdit:
    enc = ls.encoding
    text_edits = []
    for e in edits:
        (sl, sc), (el, ec) = index.position(e.start, enc), index.position(e.end, enc)
        rng = types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec))
        text_edits.append(types.TextEdit(range=rng, new_text=e.text))
    caps = ls.client_capabilities.workspace
    versioned = bool(caps and caps.workspace_edit and caps.workspace_edit.document_changes)
    if versioned:
        doc = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc, edits=text_edits)])
    return types.WorkspaceEdit(changes={uri: text_edits})


async def _open(ls, uri: str):
    doc = ls.document(uri)
    if doc is None:
        raise InvalidParams(f"unknown document {uri}")
    engine = await ls.slot.get()
    return doc, engine


async def _run_and_apply(ls, engine, uri, version, index, job, label, make_edits) -> dict:
    result = await await_job(ls, engine.submit(job))
    if result.stop_reason in ("cancelled", "deadline", "error"):
        return {"applied": False, "edits": 0, "reason": result.stop_reason}
    current = ls.document(uri)
    if current is None or current[1].text != index.text:
        return {"applied": False, "edits": 0, "reason": "document changed while filling"}
    edits, extra = make_edits(result)
    if not edits:
        return {"applied": False, "edits": 0, "reason": "no change", **extra}
    edit = workspace_edit(ls, uri, version, index, edits)
    reply = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=label))
    return {"applied": bool(reply.applied), "edits": len(edits), "steps": result.steps, **extra}


async def fill_selection(ls, *args) -> dict:
    uri, r = parse_target(args, need_range=True)
    (version, index), engine = await _open(ls, uri)
    enc = ls.encoding
    start, end = index.offset(r[0], r[1], enc), index.offset(r[2], r[3], enc)
    if start is None or end is None:
        raise InvalidParams("range is outside the document")
    start, end = min(start, end), max(start, end)
    if start == end:
        return {"applied": False, "edits": 0, "reason": "empty selection"}
    if engine is None:
        return {"applied": False, "edits": 0, "reason": f"no model: {ls.slot.error}"}
    text, o = index.text, ls.options
    old = text[start:end]
    if len(old) > MAX_SELECTION_TOKENS * CHARS_PER_TOKEN * 2:
        raise InvalidParams("selection too large")
    try:
        n = max(1, len(engine.tokenizer.encode(old)))
    except (TypeError, ValueError) as exc:  # e.g. a lone surrogate, which a client may send but no tokenizer takes
        raise InvalidParams(f"the selection cannot be tokenized: {exc}") from None
    if n > MAX_SELECTION_TOKENS:
        raise InvalidParams(f"selection too large ({n} tokens, at most {MAX_SELECTION_TOKENS})")
    from runtime.jobs import InfillJob

    snippets = workspace_snippets(ls, uri, text)
    max_tokens = max(n + n // 2 + 8, n)
    b = budget(o, engine, max_tokens)
    before = window_before(text, start, max(0, b.before * CHARS_PER_TOKEN - len(snippets)))
    job = InfillJob(prefix=before,
                    suffix=window_after(text, end, b.after * CHARS_PER_TOKEN), mode="span",
                    gap_tokens=n, max_tokens=max_tokens, strategy=o.strategy,
                    params=dict(o.strategy_params), key=f"{uri}#fill", preamble=snippets)

    def make_edits(result):
        edits = [Edit(e.start + start, e.end + start, e.text) for e in minimal_edits(old, result.text)]
        return edits, {"text": result.text}

    return await _run_and_apply(ls, engine, uri, version, index, job, "seed-lsp: fill selection", make_edits)


async def fill_holes(ls, *args) -> dict:
    uri, _ = parse_target(args, need_range=False)
    (version, index), engine = await _open(ls, uri)
    offsets, segments = split_holes(index.text)
    if not offsets:
        return {"applied": False, "edits": 0, "holes": 0, "reason": f"no {MARKER} marker"}
    if len(offsets) > MAX_HOLES:
        raise InvalidParams(f"{len(offsets)} holes; at most {MAX_HOLES} in one job")
    if engine is None:
        return {"applied": False, "edits": 0, "holes": len(offsets), "reason": f"no model: {ls.slot.error}"}
    o = ls.options
    snippets = workspace_snippets(ls, uri, index.text)
    # The gaps of every hole share the window; each middle segment is capped by the runtime too.
    b = budget(o, engine, o.max_tokens * len(offsets))
    room = max(0, b.before * CHARS_PER_TOKEN - len(snippets))
    segments[0] = window_before(segments[0], len(segments[0]), room)
    segments[-1] = window_after(segments[-1], 0, b.after * CHARS_PER_TOKEN)
    from runtime.jobs import InfillJob

    job = InfillJob(segments=segments, mode="block", max_tokens=o.max_tokens, strategy=o.strategy,
                    params=dict(o.strategy_params), key=f"{uri}#fill", preamble=snippets)

    def make_edits(result):
        texts = [clean(t, "block") for t in result.texts]
        edits = [Edit(off, off + len(MARKER), t) for off, t in zip(offsets, texts)]
        return edits, {"holes": len(offsets), "texts": texts}

    return await _run_and_apply(ls, engine, uri, version, index, job, "seed-lsp: fill holes", make_edits)


def register(ls) -> None:
    ls.command("seed.fillSelection")(fill_selection)
    ls.command("seed.fillHoles")(fill_holes)
