"""The Dream family (model_type "Dream"): Dream-v0, Dream-Coder-v0, DiffuCoder, DreamOn.

All four are Qwen2.5 weights trained as masked diffusion with shifted logits (output i predicts
token i+1) and publish the same config dialect; they differ in their tokens and in how their
authors lay out an infilling canvas, which is what `detect` and the layout fields say.
"""
from __future__ import annotations

from runtime.models.family import Family
from runtime.models.qwen2 import qwen_arch, qwen_weight_names

DREAM_TYPES = ("Dream", "dream")


def _qwen2(config: dict):
    return qwen_arch(config, qkv_bias=True, qk_norm=False)


# DreamOn: variable-length infilling. Its tokenizer adds <|expand|> (a committed expand opens a
# second mask, an EOS inside the span deletes its slot: runtime/canvas.py). Layout from its
# authors' infilling eval: BOS + prefix + masks + suffix + EOS.
DREAMON = Family(
    name="dreamon",
    model_types=DREAM_TYPES,
    arch=_qwen2,
    weight_names=qwen_weight_names,
    shifted=True,
    canvas_bos=True,
    canvas_eos=True,
    trained_length=2048,
    detect=lambda config, tokens: "<|expand|>" in tokens or config.get("expand_token_id") is not None,
    source="DreamLM/DreamOn (see docs/families.md)",
)

# Dream-v0 / Dream-Coder-v0 / DiffuCoder: a fixed canvas starting with the tokenizer's BOS
# (<|beginoftext|> 151665 in Dream's tokenizer_config.json; config.json's bos 151643 is Qwen2's).
DREAM = Family(
    name="dream",
    model_types=DREAM_TYPES,
    arch=_qwen2,
    weight_names=qwen_weight_names,
    shifted=True,
    canvas_bos=True,
    source="Dream-org/Dream-v0-Instruct-7B files (tests/fixtures/real), DreamLM/Dream (see docs/families.md)",
)
