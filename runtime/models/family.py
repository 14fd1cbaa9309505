"""A checkpoint family: how one config.json dialect maps onto DiffusionLM.

A Family turns config.json into ArchConfig + ModelSpec and names, for every parameter of
DiffusionLM, the tensor that holds it in the checkpoint. Special ids come from config first and
from the tokenizer's special tokens second; a family only names where to look.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from runtime.spec import ArchConfig

MASK_TOKEN_NAMES = ("<|mask|>", "<mask>", "[MASK]", "<|mdm_mask|>")
PAD_TOKEN_NAMES = ("<|dlm_pad|>", "<|pad|>", "<pad>", "[PAD]")
EOT_TOKEN_NAMES = ("<|eot_id|>", "<|im_end|>")
EXPAND_TOKEN_NAMES = ("<|expand|>", "<|mask_expand|>")  # DreamOn; config "expand_token_id" wins


class CheckpointError(ValueError):
    """A model directory that cannot be loaded as it is; the message names the problem."""


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    arch: Callable[[dict], ArchConfig]
    weight_names: Callable[[ArchConfig], dict[str, str]]  # our parameter name -> checkpoint tensor name
    shifted: bool  # default; config "logits_shifted" overrides


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


def block_names(prefix: str, names: dict[str, str], num_layers: int) -> dict[str, str]:
    """Expand per-block name templates: {our suffix: their suffix} for every layer index."""
    return {
        f"layers.{i}.{ours}": f"{prefix}{i}.{theirs}"
        for i in range(num_layers)
        for ours, theirs in names.items()
    }
