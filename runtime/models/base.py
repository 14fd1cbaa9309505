"""DiffusionLM: the one transformer every family runs on (embed -> blocks -> norm -> head).

Families differ only in how config.json maps to ArchConfig/ModelSpec and in weight names
(runtime/models/<family>.py); nothing here branches on the family.

Contract:
  hidden(ids, positions, key_mask, cache, rows) -> (B, N, C) hidden states of the given rows
  head(h) -> (B, N, V) logits;  aligned_logits(ids) -> (B, T, V) with the family's shift applied
"""
from __future__ import annotations

import torch
from torch import nn

from runtime.layers import Block, KVCache, RMSNorm, rope_cos_sin
from runtime.spec import ArchConfig, ModelSpec


class DiffusionLM(nn.Module):
    def __init__(self, arch: ArchConfig, spec: ModelSpec) -> None:
        super().__init__()
        self.arch, self.spec = arch, spec
        self.embed = nn.Embedding(arch.vocab_size, arch.hidden_size)
        self.layers = nn.ModuleList(Block(arch) for _ in range(arch.num_layers))
        self.norm = RMSNorm(arch.hidden_size, arch.rms_eps)
        self.head = nn.Linear(arch.hidden_size, arch.vocab_size, bias=False)
        if arch.tied_head:
            self.head.weight = self.embed.weight

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.weight.dtype

    def new_cache(self) -> KVCache:
        return KVCache(self.arch.num_layers)

    def hidden(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        rows: torch.Tensor | None = None,
        final_norm: bool = True,
    ) -> torch.Tensor:
        """ids (B, N) -> final-normed hidden (B, N, C) (before the final norm with final_norm=False:
        the fused head of kernels.gap_head applies that norm itself).

        positions (B, N): rotary positions (default 0..N-1). key_mask (B, T): True = real key
        (or (B, N, T): a mask per query, e.g. training's causal rows).
        cache + rows None: full forward that fills the cache. cache + rows (B, N): only these rows
        run; their keys/values overwrite the cache at `rows`, the rest of the cache is reused.
        """
        if positions is None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand(ids.shape[0], -1)
        x = self.embed(ids)  # (B, N, C)
        cos, sin = rope_cos_sin(positions, self.arch.head_dim, self.arch.rope_theta, x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, key_mask, i, cache, rows)
        return self.norm(x) if final_norm else x

    def head_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, V), in fp32 so that confidences compare across dtypes."""
        return self.head(h).float()

    def aligned_logits(self, input_ids: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) -> (B, T, V); row i is the distribution for token i (shift applied)."""
        logits = self.head_logits(self.hidden(input_ids, key_mask=key_mask))  # (B, T, V)
        if self.spec.shifted:
            # Dream-style: output i predicts token i+1; row 0 keeps its own output (as the reference does).
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits

    def forward(self, input_ids: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.aligned_logits(input_ids, key_mask)
