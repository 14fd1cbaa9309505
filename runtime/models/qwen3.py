"""Qwen3-style families (per-head q/k RMSNorm, no q/k/v bias), shifted logits: Salesforce CoDA
(model_type "CoDA") and any plain Qwen3 config run bidirectionally."""
from __future__ import annotations

from runtime.models.family import PARALLEL_GREEDY, Family
from runtime.models.qwen2 import qwen_arch, qwen_weight_names


def _qwen3(config: dict):
    return qwen_arch(config, qkv_bias=False, qk_norm=True)


# CoDA-v0: its config.json has no tie_word_embeddings and CoDAConfig defaults to True; its
# tokenizer names <|im_end|> as BOS, so the canvas starts with no BOS (the report conditions on
# the prefix; no infill code is published). Trained at 8,192 tokens (SFT at 1,024).
# SalesforceAIResearch/CoDA @ fa1d505: CoDALanguageModel/model_config.py, technical_report.pdf.
CODA = Family(
    name="coda",
    model_types=("CoDA", "coda"),
    arch=_qwen3,
    weight_names=qwen_weight_names,
    shifted=True,
    tie_default=True,
    trained_length=8192,
    decoding=PARALLEL_GREEDY,
    source="SalesforceAIResearch/CoDA @ fa1d505 (docs/families.md)",
)

QWEN3 = Family(
    name="qwen3",
    model_types=("qwen3",),
    arch=_qwen3,
    weight_names=qwen_weight_names,
    shifted=True,
    decoding=PARALLEL_GREEDY,
    source="transformers Qwen3Config (tie default False)",
)
