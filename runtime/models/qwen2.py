"""Qwen2-style families: Dream-v0 / Dream-Coder / DiffuCoder / DreamOn (model_type "Dream"),
Open-dCoder and any plain Qwen2 config run bidirectionally, and the embedded model.

q/k/v carry biases, o_proj does not; the head is tied when tie_word_embeddings says so. Logits
are shifted (output i predicts token i+1) unless config.json sets "logits_shifted": false, as the
embedded model's does.
"""
from __future__ import annotations

from runtime.models.family import PARALLEL_GREEDY, Family, block_names, check_rope_scaling, check_sliding_window, need, rope_theta
from runtime.spec import ArchConfig

BLOCK = {
    "attn.q.weight": "self_attn.q_proj.weight",
    "attn.q.bias": "self_attn.q_proj.bias",
    "attn.k.weight": "self_attn.k_proj.weight",
    "attn.k.bias": "self_attn.k_proj.bias",
    "attn.v.weight": "self_attn.v_proj.weight",
    "attn.v.bias": "self_attn.v_proj.bias",
    "attn.o.weight": "self_attn.o_proj.weight",
    "mlp.gate.weight": "mlp.gate_proj.weight",
    "mlp.up.weight": "mlp.up_proj.weight",
    "mlp.down.weight": "mlp.down_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
}
QK_NORM = {"attn.q_norm.weight": "self_attn.q_norm.weight", "attn.k_norm.weight": "self_attn.k_norm.weight"}


def qwen_arch(config: dict, qkv_bias: bool, qk_norm: bool) -> ArchConfig:
    check_rope_scaling(config)
    check_sliding_window(config)
    hidden = need(config, "hidden_size")
    heads = need(config, "num_attention_heads")
    return ArchConfig(
        vocab_size=need(config, "vocab_size"),
        hidden_size=hidden,
        intermediate_size=need(config, "intermediate_size"),
        num_layers=need(config, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=config.get("num_key_value_heads") or heads,
        head_dim=config.get("head_dim") or hidden // heads,
        rope_theta=rope_theta(config, "rope_theta"),
        rms_eps=float(need(config, "rms_norm_eps")),
        qkv_bias=config.get("attention_bias", qkv_bias),
        qk_norm=qk_norm,
        tied_head=bool(config.get("tie_word_embeddings")),  # absent: Family.build_arch
        max_positions=config.get("max_position_embeddings") or 32768,
    )


def qwen_weight_names(arch: ArchConfig) -> dict[str, str]:
    block = dict(BLOCK)
    if not arch.qkv_bias:
        block = {k: v for k, v in block.items() if not k.endswith(".bias")}
    if arch.qk_norm:
        block.update(QK_NORM)
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight"}
    names.update(block_names("model.layers.", block, arch.num_layers))
    if not arch.tied_head:
        names["head.weight"] = "lm_head.weight"
    return names


def _architectures(config: dict) -> tuple[str, ...]:
    return tuple(config.get("architectures") or ())


# The embedded model (runtime/train): Qwen2 names, its own tokenizer, no BOS; its config names
# the decoding it was trained for (seed_lsp_defaults) and the text window it was trained at.
SEED = Family(
    name="seed",
    model_types=("qwen2", "seed_diffusion"),
    arch=lambda c: qwen_arch(c, qkv_bias=True, qk_norm=False),
    weight_names=qwen_weight_names,
    shifted=True,
    detect=lambda config, tokens: "SeedDiffusionLM" in _architectures(config) or config.get("model_type") == "seed_diffusion",
    source="runtime/train/loop.py (model_config)",
)

# A plain Qwen2 config run bidirectionally: Open-dCoder-0.5B (Qwen2.5-Coder-0.5B weights). Its
# infill eval builds prefix + masks + suffix with no BOS and no EOS and it trained at 4,096 tokens
# (pengzhangzhi/Open-dLLM @ 8b38787: eval/eval_infill/eval_infill.py, configs/pretrain/qwen2_5_coder_500M.yaml).
QWEN2 = Family(
    name="qwen2",
    model_types=("qwen2",),
    arch=lambda c: qwen_arch(c, qkv_bias=True, qk_norm=False),
    weight_names=qwen_weight_names,
    shifted=True,
    trained_length=4096,
    decoding=PARALLEL_GREEDY,
    source="Open-dLLM @ 8b38787 (docs/families.md); transformers Qwen2Config (tie default False)",
)
