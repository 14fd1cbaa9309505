"""A checkpoint family: how one config.json dialect maps onto DiffusionLM, and every quirk of it.

A Family turns config.json into ArchConfig, names for every parameter of DiffusionLM the tensor
that holds it in the checkpoint, and holds the facts its authors' code fixes and the files do not
say: whether logits are shifted, the tied-head default of the authors' config class, how the
authors lay out an infilling canvas (BOS first? EOS after the suffix?), the length the family was
trained at (the window never exceeds it) and the decoding defaults `auto` uses. Nothing outside
this object tests which family a model is: infill.py asks the spec the family filled in.

Several families share a model_type (Dream-v0, Dream-Coder, DiffuCoder and DreamOn all say
"Dream"): `detect` tells a variant from the directory's config and token names; the first family
that claims a directory wins (runtime/models/__init__.py orders them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from runtime.spec import ArchConfig

# Mask tokens by name, the last resort of runtime/special_ids.py: Dream's and CoDA's <|mask|>, LLaDA's
# <|mdm_mask|>, and what Open-dLLM adds to a tokenizer without one (<M> in tasks/train_torch.py,
# [MASK] in sample.py).
MASK_TOKEN_NAMES = ("<|mask|>", "<|mdm_mask|>", "<M>", "[MASK]", "<mask>")
PAD_TOKEN_NAMES = ("<|dlm_pad|>", "<|pad|>", "<pad>", "[PAD]")
EOT_TOKEN_NAMES = ("<|eot_id|>", "<|im_end|>")
EXPAND_TOKEN_NAMES = ("<|expand|>",)  # DreamOn's added token; config "expand_token_id" wins


# What `auto` runs on a real checkpoint: greedy (an editor wants the same text for the same context),
# the most confident position plus every other at probability >= 0.9 per step (Fast-dLLM's
# threshold rule, which its authors report at the quality of one token per step on Dream and
# LLaDA). The authors' own settings (one token per step, entropy order, temperature 0.1-0.4) are in
# docs/families.md, and `strategy: "entropy", params {"k": 1}` reproduces their order.
PARALLEL_GREEDY = {"strategy": "threshold", "params": {"tau": 0.9, "temperature": 0.0}}


class CheckpointError(ValueError):
    """A model directory that cannot be loaded as it is; the message names the problem."""


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    arch: Callable[[dict], ArchConfig]
    weight_names: Callable[[ArchConfig], dict[str, str]]  # our parameter name -> checkpoint tensor name
    shifted: bool  # default; config "logits_shifted" overrides
    tie_key: str = "tie_word_embeddings"  # the config key that says the head is tied
    tie_default: bool = False  # the authors' config class default when config.json lacks tie_key
    canvas_bos: bool = False  # the canvas starts with the tokenizer's BOS token
    canvas_eos: bool = False  # the canvas ends with EOS after the suffix (DreamOn's layout)
    trained_length: int | None = None  # tokens per sequence in training: the window's cap
    decoding: dict = field(default_factory=dict, hash=False, compare=False)  # `auto`'s defaults
    detect: Callable[[dict, frozenset[str]], bool] | None = None  # variant test: config, token names
    source: str = ""  # where the facts above come from (files of the authors' repositories)

    def build_arch(self, config: dict) -> ArchConfig:
        """ArchConfig from config.json; a missing tie key takes the authors' class default."""
        arch = self.arch(config)
        if config.get(self.tie_key) is None:
            arch = dataclasses.replace(arch, tied_head=self.tie_default)
        return arch

    def claims(self, config: dict, token_names: frozenset[str]) -> bool:
        if str(config.get("model_type", "")) not in self.model_types:
            return False
        return self.detect is None or self.detect(config, token_names)


def need(config: dict, *keys: str):
    """The first of keys present in config, or a CheckpointError naming them."""
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    raise CheckpointError(f"config.json has no {' / '.join(keys)}")


def check_rope_scaling(config: dict) -> None:
    scaling = config.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        raise CheckpointError(f"rope_scaling {scaling} is not supported yet (only plain rotary embeddings)")


def check_sliding_window(config: dict) -> None:
    """Qwen2 configs carry sliding_window even when it is off; only use_sliding_window turns it on."""
    if config.get("use_sliding_window") and config.get("sliding_window"):
        raise CheckpointError(
            f"use_sliding_window is true (sliding_window {config['sliding_window']}): sliding-window "
            "attention is not supported (every position must see the whole canvas)"
        )


def rope_theta(config: dict, *keys: str) -> float:
    """rope_theta as published: an int (500000) or a float (1000000.0), never a string."""
    value = need(config, *keys)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointError(f"config.json {keys[0]} must be a number, got {value!r}")
    return float(value)


def block_names(prefix: str, names: dict[str, str], num_layers: int) -> dict[str, str]:
    """Expand per-block name templates: {our suffix: their suffix} for every layer index."""
    return {
        f"layers.{i}.{ours}": f"{prefix}{i}.{theirs}"
        for i in range(num_layers)
        for ours, theirs in names.items()
    }
