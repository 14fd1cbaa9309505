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
    """Qwen3 names as CoDA's modeling code defines them (SalesforceAIResearch/CoDA @ d7241fc
    CoDALanguageModel/modeling_coda.py: model.embed_tokens, model.layers.N.self_attn.{q,k,v,o}_proj,
    q_norm/k_norm, mlp.{gate,up,down}_proj, the two layer norms, model.norm; no q/k/v bias). The head
    is tied (CoDAConfig's default; the config has no key), so the file holds no lm_head."""
    per = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
           "self_attn.q_norm.weight", "self_attn.k_norm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
           "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"]
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    return names + [f"model.layers.{n}.{p}" for n in range(c["num_hidden_layers"]) for p in per]


SHAPES = {"dream-v0-instruct-7b": qwen_shapes, "llada-8b-instruct": llada_shapes, "coda-v0-instruct": qwen_shapes}
NAMES = {"coda-v0-instruct": qwen3_names}  # releases whose index we do not have

# Families whose files are not published anywhere we can read (docs/families.md): documented
# stand-ins derived from Dream-v0-Instruct's real files, changed only where the authors' code says.
#   dreamon: DreamOn adds <|expand|> at 151667 (DreamLM/DreamOn eval/evaluate.py hard-codes the id;
#            the string is from its blog post).
#   diffucoder: DiffuCoder-Instruct adds <|dlm_pad|> (apple/DiffuCoder-7B-Instruct's added_tokens.json
#            grows by one entry; 151667 is the only free id, UNVERIFIED).
#   open-dcoder: a plain Qwen2 config (Qwen2.5-Coder-0.5B's dialect: model_type qwen2, tied head) over
#            the Qwen2.5 tokenizer files, which Dream's are.
STANDINS = {
    "dreamon-standin": ("<|expand|>", {}),
    "diffucoder-standin": ("<|dlm_pad|>", {}),
    "open-dcoder-standin": (None, {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
                                   "tie_word_embeddings": True, "max_position_embeddings": 32768}),
}


def build_standin(name: str, out: Path, seed: int = 0) -> Path:
    token, config_changes = STANDINS[name]
    build("dream-v0-instruct-7b", out, seed)
    if token is not None:
        added = json.loads((out / "added_tokens.json").read_text())
        added[token] = 151667
        (out / "added_tokens.json").write_text(json.dumps(added, indent=2))
        tc = json.loads((out / "tokenizer_config.json").read_text())
        tc["added_tokens_decoder"]["151667"] = {"content": token, "lstrip": False, "normalized": False,
                                                "rstrip": False, "single_word": False, "special": True}
        (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
    if config_changes:
        config = json.loads((out / "config.json").read_text())
        config.update(config_changes)
        config.pop("auto_map", None)
        (out / "config.json").write_text(json.dumps(config, indent=2))
    if config_changes.get("tie_word_embeddings"):  # a tied checkpoint saves no separate head
        index = json.loads((out / "model.safetensors.index.json").read_text())
        shard = index["weight_map"].pop("lm_head.weight")
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        from safetensors.torch import load_file

        tensors = load_file(out / shard)
        tensors.pop("lm_head.weight")
        save_file(tensors, str(out / shard), metadata={"format": "pt"})
    return out


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
