"""ModelSpec for a checkpoint: special ids (runtime/special_ids.py), the family's layout and
defaults, the window, and the ids a completion may never hold.

window = min(the checkpoint's max_position_embeddings / max_sequence_length, the length the
family was trained at): the most positions a canvas (text, gaps at their budgets, BOS/EOS) may
take. The text the engine keeps is the window less the gaps, and at most RunOptions.max_context
(a model trained on short text windows says so in config seed_lsp_defaults.max_context).
"""
from __future__ import annotations

import re

from runtime.spec import ArchConfig, ModelSpec
from runtime.special_ids import Files, resolve

# Added tokens that are markup, not text: <|fim_prefix|>, <tool_call>, [CLS]. Qwen2.5 does not flag
# its FIM and repo tokens special, yet they must never reach a completion.
CONTROL = re.compile(r"^(<[^<>\s]+>|\[[A-Za-z_]+\])$")


def token_names(tok) -> frozenset[str]:
    """The texts of the tokenizer's added tokens (a family variant is told by these)."""
    if tok is None:
        return frozenset()
    return frozenset(t.content for t in added_tokens(tok).values())


def added_tokens(tok) -> dict:
    return tok.inner.get_added_tokens_decoder() if tok is not None else {}


def model_window(arch: ArchConfig, family) -> int:
    return min(arch.max_positions, family.trained_length or arch.max_positions)


def never_ids(tok, vocab_size: int, keep: set[int]) -> frozenset[int]:
    """Special/control tokens other than `keep` (the ends and the expand token, which the loop's own
    rules place), and embedding rows no token maps to."""
    banned = {i for i, t in added_tokens(tok).items() if i not in keep and (t.special or CONTROL.match(t.content))}
    if tok is not None:
        last = max([tok.inner.get_vocab_size(with_added_tokens=True) - 1, *added_tokens(tok)])
        banned |= set(range(last + 1, vocab_size))
    return frozenset(banned)


def build_spec(files: Files, family, arch: ArchConfig, tok) -> ModelSpec:
    config = files.config
    special = resolve(files, tok, arch.vocab_size)
    ids = special.ids
    gen_eos = files.generation.get("eos_token_id")
    extra = [i for i in (gen_eos if isinstance(gen_eos, list) else []) if isinstance(i, int)]
    if ids["dlm_pad"] is not None:
        extra.insert(0, ids["dlm_pad"])
    defaults = {**family.decoding, **dict(config.get("seed_lsp_defaults", {}))}
    head = (ids["bos"],) if family.canvas_bos and ids["bos"] is not None else ()
    tail = (ids["eos"],) if family.canvas_eos else ()
    spec = ModelSpec(
        family=family.name, mask_id=ids["mask"], pad_id=ids["pad"], eos_id=ids["eos"], eot_id=ids["eot"],
        bos_id=ids["bos"], extra_end_ids=tuple(dict.fromkeys(i for i in extra if i != ids["mask"])),
        expand_id=ids["expand"], shifted=bool(config.get("logits_shifted", family.shifted)), defaults=defaults,
        prompt_head=head, prompt_tail=tail, window=model_window(arch, family),
        sources=special.sources, conflicts=tuple(special.conflicts),
    )
    keep = set(spec.end_ids) | {spec.mask_id} | ({spec.expand_id} if spec.expand_id is not None else set())
    ban = never_ids(tok, arch.vocab_size, keep) | {spec.mask_id}
    object.__setattr__(spec, "never_ids", frozenset(ban))
    return spec
