"""Qwen3-style family (per-head q/k RMSNorm, no q/k/v bias), e.g. Salesforce CoDA: shifted logits."""
from __future__ import annotations

from runtime.models.family import Family
from runtime.models.qwen2 import qwen_arch, qwen_weight_names

QWEN3 = Family(
    name="qwen3",
    model_types=("qwen3", "CoDA", "coda"),
    arch=lambda c: qwen_arch(c, qkv_bias=False, qk_norm=True),
    weight_names=qwen_weight_names,
    shifted=True,
)
