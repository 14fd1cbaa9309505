"""Checkpoint directories built from the families' real published files (tests/fixtures/real/).

build(name, out) copies every vendored file byte for byte, except config.json, where only the layer
sizes are shrunk (SHRINK); it adds the stand-in tokenizer where the real one could not be retrieved
(LLaDA), and writes random weights under exactly the names, in exactly the shards, that the
published model.safetensors.index.json lists (or, for a release whose index we do not have, the
names its authors' modeling code defines, NAMES below). The shapes come from this file's own rules
per family, never from runtime/, so that a wrong mapping in the loader fails the parity tests.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}

# Only layer widths shrink; layer counts stay, so the published index's names are all used.
SHRINK = {
    "dream-v0-instruct-7b": {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
                             "num_key_value_heads": 2},
    "llada-8b-instruct": {"d_model": 64, "mlp_hidden_size": 96, "n_heads": 4, "n_kv_heads": 4},
    "coda-v0-instruct": {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
                         "num_key_value_heads": 2, "head_dim": 16},
}


def qwen_shapes(c: dict, name: str) -> tuple[int, ...]:
    """Shape of a Qwen2/Qwen3-named tensor (Dream, DreamOn, DiffuCoder, Open-dCoder, CoDA)."""
    h, v, i = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    hd = c.get("head_dim") or h // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    leaf = name.rsplit(".", 2)[-2:]
    table = {
        ("embed_tokens", "weight"): (v, h), ("lm_head", "weight"): (v, h), ("norm", "weight"): (h,),
        ("q_proj", "weight"): (q, h), ("q_proj", "bias"): (q,), ("k_proj", "weight"): (kv, h),
        ("k_proj", "bias"): (kv,), ("v_proj", "weight"): (kv, h), ("v_proj", "bias"): (kv,),
        ("o_proj", "weight"): (h, q), ("gate_proj", "weight"): (i, h), ("up_proj", "weight"): (i, h),
        ("down_proj", "weight"): (h, i), ("input_layernorm", "weight"): (h,),
        ("post_attention_layernorm", "weight"): (h,), ("q_norm", "weight"): (hd,), ("k_norm", "weight"): (hd,),
    }
    return table[tuple(leaf)]


def llada_shapes(c: dict, name: str) -> tuple[int, ...]:
    h, i, v = c["d_model"], c["mlp_hidden_size"], c["embedding_size"]
    kv = c["n_kv_heads"] * h // c["n_heads"]
    if name == "model.transformer.wte.weight" or name == "model.transformer.ff_out.weight":
        return (v, h)
    leaf = name.rsplit(".", 2)[-2]
    table = {"q_proj": (h, h), "k_proj": (kv, h), "v_proj": (kv, h), "attn_out": (h, h), "ff_proj": (i, h),
             "up_proj": (i, h), "ff_out": (h, i), "attn_norm": (h,), "ff_norm": (h,), "ln_f": (h,)}
    return table[leaf]


def qwen3_names(c: dict) -> list[str]:
    """Qwen3 names (CoDA's modeling code keeps them; no q/k/v bias, per-head q/k norms)."""
    per = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
           "self_attn.q_norm.weight", "self_attn.k_norm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
           "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"]
    names = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    return names + [f"model.layers.{n}.{p}" for n in range(c["num_hidden_layers"]) for p in per]


SHAPES = {"dream-v0-instruct-7b": qwen_shapes, "llada-8b-instruct": llada_shapes, "coda-v0-instruct": qwen_shapes}
NAMES = {"coda-v0-instruct": qwen3_names}  # releases whose index we do not have


def build(name: str, out: Path, seed: int = 0, scale: float = 0.15) -> Path:
    """out/ = the published files of `name` (config shrunk) + random weights; returns out."""
    src = REAL / name
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "config.json":
            shutil.copyfile(f, out / f.name)
    config = json.loads((src / "config.json").read_text())
    config.update(SHRINK[name])
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if name.startswith("llada"):
        from tests.fixtures.real.llada_standin import standin_tokenizer

        standin_tokenizer(src).save(str(out / "tokenizer.json"))
    index = out / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
    else:
        weight_map = {n: "model.safetensors" for n in NAMES[name](config)}
    dtype = DTYPES[config.get("torch_dtype", "float32")]
    g = torch.Generator().manual_seed(seed)
    shards: dict[str, dict[str, torch.Tensor]] = {}
    for tensor, shard in sorted(weight_map.items()):
        shape = SHAPES[name](config, tensor)
        w = torch.randn(shape, generator=g) * scale
        if tensor.endswith("norm.weight") or tensor.endswith("ln_f.weight"):
            w = 1.0 + 0.1 * w  # norms near one, as trained ones are
        shards.setdefault(shard, {})[tensor] = w.to(dtype)
    for shard, tensors in shards.items():
        save_file(tensors, str(out / shard), metadata={"format": "pt"})
    return out


def published_files(name: str) -> list[str]:
    return sorted(f.name for f in (REAL / name).iterdir() if f.is_file())
