"""Reuse across keystrokes: carry the last job's K/V cache of a document into the next job.

After a small edit the new canvas shares a long prefix and a long suffix with the old one. Their
keys/values are copied over: the prefix at the same positions, the suffix shifted by the change in
length, its keys re-rotated by that shift (rotary embeddings are rotations, so rotating a cached key
by delta positions equals computing it at its new position). Everything else (the edit, the gap,
and a window of `window` tokens on each side of them) is recomputed by the first gap-only step.
In a bidirectional model the copied keys/values are slightly stale: they saw the text as it was
when a full forward computed them. Copied again at every keystroke, they would date from the first
job of a typing session (each job's refresh schedule starts over, and a line fill is far shorter
than it). So Carried counts the jobs its oldest keys/values have survived (`age`), and a job that
would take them past `max_age` starts with a full forward instead, which resets the count.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.layers import KVCache, apply_rope, rope_cos_sin


@dataclass
class Carried:
    """A finished job's state for one document: its canvas ids and K/V cache (batch of 1), and what
    it wrote (runtime/draft.py: the next job may start from it)."""

    ids: list[int]
    cache: KVCache
    last: object = None  # runtime.draft.LastFill | None
    age: int = 0  # jobs the oldest K/V have survived since a full forward (0: this job computed them)


def common_ends(old: list[int], new: list[int]) -> tuple[int, int]:
    """Lengths of the common prefix and the common suffix (non-overlapping in both lists)."""
    limit = min(len(old), len(new))
    cp = 0
    while cp < limit and old[cp] == new[cp]:
        cp += 1
    cs = 0
    while cs < limit - cp and old[-1 - cs] == new[-1 - cs]:
        cs += 1
    return cp, cs


def transplant(carried: Carried, new_ids: list[int], model, window: int, min_reuse: float = 0.5,
               max_age: int | None = None):
    """A KVCache for new_ids seeded from `carried`, and the sorted positions that must be recomputed;
    None when too little is shared to be worth it (< min_reuse of the new canvas) or when the copied
    K/V would be older than max_age jobs (carried.age + 1 > max_age; None: no bound)."""
    if max_age is not None and carried.age + 1 > max_age:
        return None
    old_ids = carried.ids
    cp, cs = common_ends(old_ids, new_ids)
    cp, cs = max(cp - window, 0), max(cs - window, 0)
    if cp + cs < min_reuse * len(new_ids):
        return None
    t_new, delta = len(new_ids), len(new_ids) - len(old_ids)
    arch = model.arch
    cache = KVCache(arch.num_layers)
    if cs:
        pos = torch.full((1, cs), delta, device=model.device)
        cos, sin = rope_cos_sin(pos, arch.head_dim, arch.rope_theta, model.dtype)  # (1, 1, cs, Dh)
    for layer in range(arch.num_layers):
        k_old, v_old = carried.cache.k[layer], carried.cache.v[layer]  # (1, Hkv, T_old, Dh)
        shape = (1, k_old.shape[1], t_new, k_old.shape[3])
        k, v = k_old.new_zeros(shape), v_old.new_zeros(shape)
        k[:, :, :cp], v[:, :, :cp] = k_old[:, :, :cp], v_old[:, :, :cp]
        if cs:
            k[:, :, t_new - cs:] = apply_rope(k_old[:, :, len(old_ids) - cs:], cos, sin)
            v[:, :, t_new - cs:] = v_old[:, :, len(old_ids) - cs:]
        cache.k[layer], cache.v[layer] = k, v
    return cache, list(range(cp, t_new - cs))
