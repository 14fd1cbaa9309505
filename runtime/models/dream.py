"""The Dream family (model_type "Dream"): Dream-v0, Dream-Coder-v0, DiffuCoder, DreamOn.

All four are Qwen2.5 weights trained as masked diffusion with shifted logits (output i predicts
token i+1) and publish the same config dialect; they differ in their tokens and in how their
authors lay out an infilling canvas, which is what `detect` and the layout fields say.
"""
from __future__ import annotations

from runtime.models.family import PARALLEL_GREEDY, Family
from runtime.models.qwen2 import qwen_arch, qwen_weight_names

DREAM_TYPES = ("Dream", "dream")


def _qwen2(config: dict):
    return qwen_arch(config, qkv_bias=True, qk_norm=False)


# DreamOn: variable-length infilling. Its tokenizer adds <|expand|> (151667 in its authors' code,
# DreamLM/DreamOn eval/evaluate.py; a committed expand opens a second mask, an EOS inside the span
# deletes its slot: runtime/canvas.py). Layout from its authors' infilling eval (eval/generator.py
# infilling_with_expansion): BOS + prefix + masks + suffix + EOS, no chat template. Trained at
# 1,024 tokens (run_dreamon.sh data.max_length=1024; its README's 2,048 is Dream's context limit).
DREAMON = Family(
    name="dreamon",
    model_types=DREAM_TYPES,
    arch=_qwen2,
    weight_names=qwen_weight_names,
    shifted=True,
    canvas_bos=True,
    canvas_eos=True,
    trained_length=1024,
    # Its eval starts a span at 4..64 masks (quickstart: 4) and lets it grow to max_gen_len 64.
    decoding={**PARALLEL_GREEDY, "gap": 4, "max_gap": 64},
    detect=lambda config, tokens: "<|expand|>" in tokens or config.get("expand_token_id") is not None,
    source="DreamLM/DreamOn @ 8a0a549: eval/generator.py, eval/evaluate.py, run_dreamon.sh (docs/families.md)",
)

# Dream-v0 / Dream-Coder-v0 / DiffuCoder: a fixed canvas starting with the tokenizer's BOS
# (<|beginoftext|> 151665 in Dream's tokenizer_config.json; config.json's bos 151643 is Qwen2's;
# DreamLM/Dream eval/eval.py prepends the tokenizer's BOS). DiffuCoder-Instruct ends answers with
# <|dlm_pad|> (an end id when the directory has it). Window capped at 2,048: "the context length
# (input+output) of Dream currently is 2048" (DreamLM/Dream README); Dream-Coder's SFT ran at 4,000.
DREAM = Family(
    name="dream",
    model_types=DREAM_TYPES,
    arch=_qwen2,
    weight_names=qwen_weight_names,
    shifted=True,
    canvas_bos=True,
    trained_length=2048,
    decoding=PARALLEL_GREEDY,
    source="Dream-org/Dream-v0-Instruct-7B files (tests/fixtures/real), DreamLM/Dream @ fac0a7f README, eval/eval.py",
)
