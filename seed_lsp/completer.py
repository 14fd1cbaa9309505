"""The completion pipeline shared by inline completion and the completion fallback.

suggest(ls, uri, position) -> Placed | None:
  open document + position -> offset (None past the end) -> workspace snippets (cross-file context,
  memoized) -> cache (the user typed the start of a shown completion: answer the rest, no model; the
  key includes the snippets) -> context windows + mode -> InfillJob (key = uri, so a newer request
  for the document supersedes this one) -> await the engine without blocking the loop -> freshness
  check -> postprocess -> cache.

Workspace snippets go in front of the job's prefix only (InfillJob.preamble, which the runtime keeps
within a quarter of the model's window); postprocessing sees the document's own text. Every
budget comes from the loaded model's window (seed_lsp/budget.py): the snippets get a quarter of
the text it keeps, taken out of the text before the cursor, so the job is no longer than without
them.

Cancellation: $/cancelRequest cancels the awaiting task; the job is cancelled with it and pygls
answers -32800. A superseded job answers RequestCancelled; one made stale by an edit ContentModified.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from lsprotocol import types

from seed_lsp.budget import budget
from seed_lsp.cache import LOOKBACK_CHARS
from seed_lsp.context import CHARS_PER_TOKEN, build_context
from seed_lsp.positions import LineIndex
from seed_lsp.postprocess import Suggestion, is_blank, language_of, plan_item
from seed_lsp.protocol import ContentModified, RequestCancelled

log = logging.getLogger("seed_lsp.completer")


PREFIX_PREVIEW = 4096  # characters of the last job's prefix kept for seed.status
_FILE_HEADER = re.compile(r"^\S+ file: (.+)$", re.M)


def workspace_budget(o, engine=None) -> int:
    """Characters of cross-file context a job gets (0 when the option is off; seed_lsp/budget.py)."""
    return budget(o, engine).workspace_chars


def workspace_snippets(ls, uri: str, text: str) -> str:
    """Cross-file context for a job on `uri` ("" when off, not ready, or nothing fits)."""
    return ls.context.snippets(uri, text, workspace_budget(ls.options, ls.slot.current()))


def remember_job(ls, uri: str, job, snippets: str) -> None:
    """What the model was sent, for seed.status (the prefix's head shows the workspace context)."""
    ls.last_job = {"uri": uri, "mode": job.mode, "prefix_chars": len(job.prefix), "suffix_chars": len(job.suffix),
                   "workspace_chars": len(snippets), "workspace_files": _FILE_HEADER.findall(snippets),
                   "prefix_head": (job.preamble + job.prefix)[:PREFIX_PREVIEW]}


@dataclass
class Placed:
    suggestion: Suggestion
    range: types.Range  # what the insert text replaces (empty at the cursor, or the overlap after it)


def _place(s: Suggestion, index: LineIndex, offset: int, position: types.Position, enc: str) -> Placed:
    end_line, end_char = index.position(offset + s.replace, enc)
    return Placed(s, types.Range(start=position, end=types.Position(line=end_line, character=end_char)))


def job_for(o, text: str, offset: int, line_start: int, line_end: int, uri: str, snippets: str = "", engine=None):
    """(Context, InfillJob) for the cursor at `offset`, cut to what `engine`'s window keeps
    (seed_lsp/budget.py): the snippets' share comes out of the prefix's window. The one place a
    job is built from options (the server and `seed-lsp eval repo`)."""
    b = budget(o, engine)
    tokens_before = max(b.before - -(-len(snippets) // CHARS_PER_TOKEN), 0)  # the snippets' share
    ctx = build_context(text, offset, line_start, line_end, tokens_before, b.after, o.mode)
    return ctx, make_job(o, ctx, uri, snippets)


def make_job(o, ctx, uri: str, snippets: str = ""):
    from runtime.jobs import InfillJob

    deadline = o.deadline_ms / 1e3 if o.deadline_ms else None
    return InfillJob(prefix=ctx.prefix, suffix=ctx.suffix, mode=ctx.mode, max_tokens=o.max_tokens, strategy=o.strategy,
                     params=dict(o.strategy_params), key=uri, deadline_s=deadline, preamble=snippets)


async def await_job(ls, handle, pending=None):
    """The job's result; cancelling the awaiting task cancels the job (between two steps)."""
    try:
        # shield: cancelling this task must not cancel the handle's future under the engine
        return await asyncio.shield(asyncio.wrap_future(handle.future))
    except asyncio.CancelledError:
        handle.cancel()
        raise
    finally:
        if pending is not None:
            ls.pending.discard(pending)


async def suggest(ls, uri: str, position: types.Position) -> Placed | None:
    started = time.perf_counter()
    outcome = "empty"
    try:
        placed, outcome = await _suggest(ls, uri, position)
        return placed
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except (RequestCancelled, ContentModified) as exc:
        outcome = "cancelled" if isinstance(exc, RequestCancelled) else "stale"
        raise
    except Exception:
        outcome = "errors"
        log.exception("completion failed for %s", uri)
        return None
    finally:
        ls.stats.finish(outcome, started)


async def _suggest(ls, uri: str, position: types.Position) -> tuple[Placed | None, str]:
    o = ls.options
    doc = ls.document(uri)
    if not o.enable or doc is None:
        return None, "empty"
    version, index = doc
    enc = ls.encoding
    offset = index.offset(position.line, position.character, enc)
    if offset is None:
        return None, "empty"
    text = index.text
    line_start, line_end = index.line_span(position.line)
    line_suffix = text[offset:line_end]
    before = text[max(0, offset - LOOKBACK_CHARS):offset]
    snippets = workspace_snippets(ls, uri, text)
    hit = ls.cache.get(uri, before, line_suffix, snippets)
    if hit is not None and not is_blank(hit[0]):
        return _place(Suggestion(*hit), index, offset, position, enc), "cache_hits"

    engine = await ls.slot.get()
    if engine is None:
        return None, "empty"
    ctx, job = job_for(o, text, offset, line_start, line_end, uri, snippets, engine)
    remember_job(ls, uri, job, snippets)
    handle = engine.submit(job)
    pending = ls.pending.add(uri, position.line, handle)
    result = await await_job(ls, handle, pending)
    if pending.reason is not None:
        raise ContentModified(f"{uri} changed under the request")
    if result.stop_reason == "cancelled":
        raise RequestCancelled("superseded by a newer request")
    if result.stop_reason == "error":
        return None, "errors"
    s = plan_item(result.text, ctx.line_prefix, ctx.line_suffix, ctx.suffix, ctx.mode, result.confidence,
                  o.confidence_floor, prefix=ctx.prefix, language=language_of(uri))
    if s is None:
        return None, "empty"
    ls.cache.put(uri, before, line_suffix, s.insert_text, s.replace, snippets)
    return _place(s, index, offset, position, enc), "items"
