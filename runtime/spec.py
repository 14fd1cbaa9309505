"""Model description shared by every family: architecture numbers and the special-token contract.

ArchConfig holds what the layers need (all read from config.json by the family, never guessed);
ModelSpec holds what decoding needs (special ids, whether logits are shifted). Both are plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArchConfig:
    """Transformer shape. head_dim defaults to hidden // heads; q/k/v bias and per-head q/k norm
    are the only structural switches the families need."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rope_theta: float
    rms_eps: float
    qkv_bias: bool = False
    qk_norm: bool = False
    tied_head: bool = False
    max_positions: int = 32768

    def __post_init__(self) -> None:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class ModelSpec:
    """What decoding must know. end_ids: ids that end a gap (eos, pad, eot, dlm_pad), pad first.
    shifted: row i's distribution comes from the output at i-1 (Dream family)."""

    family: str
    mask_id: int
    pad_id: int
    eos_id: int
    shifted: bool
    eot_id: int | None = None
    bos_id: int | None = None
    extra_end_ids: tuple[int, ...] = ()
    expand_id: int | None = None  # DreamOn: committing it opens one more mask in the gap
    defaults: dict = field(default_factory=dict, hash=False, compare=False)
    # The family's canvas layout (runtime/models/family.py): ids before the text, ids after it.
    prompt_head: tuple[int, ...] = ()
    prompt_tail: tuple[int, ...] = ()
    window: int = 2048  # tokens of canvas the model is used at (checkpoint length, capped by training)
    # Ids a completion may never hold: every special/control token that is not an end, and the
    # embedding rows past the tokenizer's last token (Dream: 152064 rows for 151667 tokens).
    never_ids: frozenset[int] = field(default_factory=frozenset, hash=False, compare=False)
    sources: dict = field(default_factory=dict, hash=False, compare=False)  # role -> file it came from
    conflicts: tuple[str, ...] = ()  # sources that named another id than the winner (special_ids.py)

    @property
    def end_ids(self) -> tuple[int, ...]:
        ids = [self.pad_id, self.eos_id, self.eot_id, *self.extra_end_ids]
        return tuple(dict.fromkeys(i for i in ids if i is not None and i != self.mask_id))
