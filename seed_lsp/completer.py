"""The completion pipeline shared by inline completion and the completion fallback.

suggest(ls, uri, position) -> Placed | None:
  open document + position -> offset (None past the end) -> cache (the user typed the start of a
  shown completion: answer the rest, no model) -> context windows + mode -> InfillJob (key = uri, so
  a newer request for the document supersedes this one) -> await the engine without blocking the
  loop -> freshness check -> postprocess -> cache.

Cancellation: $/cancelRequest cancels the awaiting task; the job is cancelled with it and pygls
answers -32800. A superseded job answers RequestCancelled; one made stale by an edit ContentModified.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from lsprotocol import types

from seed_lsp.cache import LOOKBACK_CHARS
from seed_lsp.context import build_context
from seed_lsp.positions import LineIndex
from seed_lsp.postprocess import Suggestion, is_blank, plan_item
from seed_lsp.protocol import ContentModified, RequestCancelled

log = logging.getLogger("seed_lsp.completer")


@dataclass
class Placed:
    suggestion: Suggestion
    range: types.Range  # what the insert text replaces (empty at the cursor, or the overlap after it)


def _place(s: Suggestion, index: LineIndex, offset: int, position: types.Position, enc: str) -> Placed:
    end_line, end_char = index.position(offset + s.replace, enc)
    return Placed(s, types.Range(start=position, end=types.Position(line=end_line, character=end_char)))


def make_job(ls, ctx, uri: str):
    from runtime.jobs import InfillJob

    o = ls.options
    deadline = o.deadline_ms / 1e3 if o.deadline_ms else None
    return InfillJob(prefix=ctx.prefix, suffix=ctx.suffix, mode=ctx.mode, max_tokens=o.max_tokens, strategy=o.strategy,
                     params=dict(o.strategy_params), key=uri, deadline_s=deadline)


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
    hit = ls.cache.get(uri, before, line_suffix)
    if hit is not None and not is_blank(hit[0]):
        return _place(Suggestion(*hit), index, offset, position, enc), "cache_hits"

    engine = await ls.slot.get()
    if engine is None:
        return None, "empty"
    ctx = build_context(text, offset, line_start, line_end, o.context_before, o.context_after, o.mode)
    handle = engine.submit(make_job(ls, ctx, uri))
    pending = ls.pending.add(uri, position.line, handle)
    result = await await_job(ls, handle, pending)
    if pending.reason is not None:
        raise ContentModified(f"{uri} changed under the request")
    if result.stop_reason == "cancelled":
        raise RequestCancelled("superseded by a newer request")
    if result.stop_reason == "error":
        return None, "errors"
    s = plan_item(result.text, ctx.line_prefix, ctx.line_suffix, ctx.suffix, ctx.mode, result.confidence,
                  o.confidence_floor)
    if s is None:
        return None, "empty"
    ls.cache.put(uri, before, line_suffix, s.insert_text, s.replace)
    return _place(s, index, offset, position, enc), "items"
