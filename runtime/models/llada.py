"""LLaDA family (model_type "llada"): LLaMA-shaped blocks under OLMo-style weight names, not shifted.

MLP = ff_out(silu(ff_proj(x)) * up_proj(x)): ff_proj is the gate. No biases unless include_bias.
The embedding table may be larger than the vocabulary (embedding_size); the head matches it.
"""
from __future__ import annotations

from runtime.models.family import PARALLEL_GREEDY, CheckpointError, Family, block_names, check_rope_scaling, need, rope_theta
from runtime.spec import ArchConfig

BLOCK = {
    "attn.q.weight": "q_proj.weight",
    "attn.k.weight": "k_proj.weight",
    "attn.v.weight": "v_proj.weight",
    "attn.o.weight": "attn_out.weight",
    "mlp.gate.weight": "ff_proj.weight",
    "mlp.up.weight": "up_proj.weight",
    "mlp.down.weight": "ff_out.weight",
    "attn_norm.weight": "attn_norm.weight",
    "mlp_norm.weight": "ff_norm.weight",
}


def llada_arch(config: dict) -> ArchConfig:
    check_rope_scaling(config)
    if config.get("include_bias"):
        raise CheckpointError("LLaDA checkpoints with include_bias=true are not supported")
    hidden = need(config, "d_model")
    heads = need(config, "n_heads")
    return ArchConfig(
        vocab_size=need(config, "embedding_size", "vocab_size"),
        hidden_size=hidden,
        intermediate_size=need(config, "mlp_hidden_size"),
        num_layers=need(config, "n_layers"),
        num_heads=heads,
        num_kv_heads=config.get("n_kv_heads") or heads,
        head_dim=hidden // heads,
        rope_theta=rope_theta(config, "rope_theta"),
        rms_eps=float(need(config, "rms_norm_eps")),
        qkv_bias=False,
        tied_head=bool(config.get("weight_tying")),  # absent: Family.build_arch
        max_positions=config.get("max_sequence_length") or 4096,
    )


def llada_weight_names(arch: ArchConfig) -> dict[str, str]:
    names = {"embed.weight": "model.transformer.wte.weight", "norm.weight": "model.transformer.ln_f.weight"}
    names.update(block_names("model.transformer.blocks.", BLOCK, arch.num_layers))
    if not arch.tied_head:
        names["head.weight"] = "model.transformer.ff_out.weight"
    return names


LLADA = Family(
    name="llada",
    model_types=("llada", "LLaDA"),
    arch=llada_arch,
    weight_names=llada_weight_names,
    shifted=False,
    tie_key="weight_tying",
    # Its authors' prompts start with <|startoftext|> (the chat template of tokenizer_config.json;
    # generate.py appends the masks); pre-training sequences are 4,096 tokens (GUIDELINES.md).
    canvas_bos=True,
    trained_length=4096,
    decoding=PARALLEL_GREEDY,
    source="ML-GSAI/LLaDA @ b7e6c35: generate.py, GUIDELINES.md; LLaDA-8B-Instruct files (tests/fixtures/real)",
)
