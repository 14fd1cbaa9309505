"""Model families by config.json model_type. Add a family: one file, one entry here."""
from __future__ import annotations

from runtime.models.family import CheckpointError, Family
from runtime.models.dream import DREAM, DREAMON
from runtime.models.llada import LLADA
from runtime.models.qwen2 import QWEN2, SEED
from runtime.models.qwen3 import CODA, QWEN3

# Variants before the family they refine: the first family that claims a directory wins.
FAMILIES: tuple[Family, ...] = (DREAMON, DREAM, SEED, QWEN2, CODA, QWEN3, LLADA)

# Block-diffusion checkpoints attend block-causally: they cannot see a suffix, so they cannot infill.
BLOCK_CAUSAL_TYPES = ("sdar", "fast_dllm_v2", "llada2_moe", "bd3lm", "trado")


def family_for(config: dict, token_names: frozenset[str] = frozenset()) -> Family:
    """The family of a config.json; token_names (the tokenizer's added tokens) tell variants apart."""
    model_type = str(config.get("model_type", ""))
    if model_type.lower() in BLOCK_CAUSAL_TYPES or config.get("block_causal"):
        raise CheckpointError(
            f"model_type {model_type!r} is a block-diffusion checkpoint: its attention is block-causal, so it "
            "cannot see the text after the cursor and cannot infill. Use a full-attention model "
            "(Dream / Dream-Coder / DiffuCoder / Open-dCoder / LLaDA)."
        )
    for family in FAMILIES:
        if family.claims(config, token_names):
            return family
    known = sorted({t for f in FAMILIES for t in f.model_types})
    raise CheckpointError(f"unknown model_type {model_type!r} in config.json (supported: {', '.join(known)})")


__all__ = ["FAMILIES", "CheckpointError", "Family", "family_for"]
