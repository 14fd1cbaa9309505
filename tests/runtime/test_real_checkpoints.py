"""Directories with exactly the files each family publishes (tests/real_checkpoints.py: the real
metadata, layer widths shrunk, random weights under the published index's names) load, resolve
their special ids as their files say, match transformers' logits, and never emit a special token
or a padding row of the embedding."""
from __future__ import annotations

import json

import pytest
import torch
import transformers

from runtime import Engine
from runtime.loader import load_model
from runtime.models import CheckpointError
from tests.real_checkpoints import build, published_files


@pytest.fixture(scope="module")
def dream_dir(tmp_path_factory):
    return build("dream-v0-instruct-7b", tmp_path_factory.mktemp("real") / "dream")


@pytest.fixture(scope="module")
def llada_dir(tmp_path_factory):
    return build("llada-8b-instruct", tmp_path_factory.mktemp("real") / "llada")


def _bidirectional_logits(hf, ids):
    for module in hf.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    mask = torch.zeros(ids.shape[0], 1, ids.shape[1], ids.shape[1])  # every query sees every key
    with torch.no_grad():
        return hf(input_ids=ids, attention_mask=mask).logits


def test_dream_directory_is_exactly_the_published_files(dream_dir):
    assert "tokenizer.json" not in published_files("dream-v0-instruct-7b")
    assert not (dream_dir / "tokenizer.json").exists(), "Dream publishes no tokenizer.json"
    model = load_model(dream_dir)
    spec = model.spec
    assert model.family.name == "dream" and spec.shifted
    # Ids as the files say, by the documented precedence (runtime/special_ids.py).
    assert (spec.mask_id, spec.eos_id, spec.pad_id) == (151666, 151643, 151643)
    assert spec.bos_id == 151665 and spec.sources["bos"] == "tokenizer_config.json bos_token"
    assert any("config.json bos_token_id says 151643" in c for c in spec.conflicts)
    assert spec.prompt_head == (151665,) and spec.prompt_tail == ()
    assert model.arch.vocab_size == 152064 and not model.arch.tied_head and model.arch.qkv_bias


def test_dream_logits_equal_transformers(dream_dir):
    ours = load_model(dream_dir)
    c = json.loads((dream_dir / "config.json").read_text())
    cfg = transformers.Qwen2Config(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], rope_theta=c["rope_theta"], rms_norm_eps=c["rms_norm_eps"],
        tie_word_embeddings=False, attn_implementation="eager",
    )
    hf = transformers.Qwen2ForCausalLM.from_pretrained(dream_dir, config=cfg, dtype=torch.float32).eval()
    ids = torch.tensor([ours.tokenizer.encode("def add(a, b):\n    return a + b\n")[:20]])
    ref = _bidirectional_logits(hf, ids)
    ref = torch.cat([ref[:, :1], ref[:, :-1]], dim=1)  # Dream's shift: row i from output i-1
    with torch.no_grad():
        got = ours.aligned_logits(ids)
    assert (got - ref).abs().max() < 1e-4


# LLaDA's OLMo-style names -> transformers' Llama names (the reference model), written here and
# not taken from runtime/, so a wrong mapping in the loader cannot pass.
LLADA_TO_LLAMA = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
                  "attn_out": "self_attn.o_proj", "ff_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                  "ff_out": "mlp.down_proj", "attn_norm": "input_layernorm", "ff_norm": "post_attention_layernorm"}


def _llada_reference(llada_dir) -> transformers.LlamaForCausalLM:
    from safetensors.torch import load_file

    c = json.loads((llada_dir / "config.json").read_text())
    cfg = transformers.LlamaConfig(
        vocab_size=c["embedding_size"], hidden_size=c["d_model"], intermediate_size=c["mlp_hidden_size"],
        num_hidden_layers=c["n_layers"], num_attention_heads=c["n_heads"], num_key_value_heads=c["n_kv_heads"],
        rope_theta=c["rope_theta"], rms_norm_eps=c["rms_norm_eps"], tie_word_embeddings=False,
        attn_implementation="eager",
    )
    state = {}
    for shard in sorted(llada_dir.glob("model-*.safetensors")):
        for name, w in load_file(shard).items():
            if name == "model.transformer.wte.weight":
                state["model.embed_tokens.weight"] = w
            elif name == "model.transformer.ff_out.weight":
                state["lm_head.weight"] = w
            elif name == "model.transformer.ln_f.weight":
                state["model.norm.weight"] = w
            else:
                _, _, _, n, leaf, _ = name.split(".")  # model.transformer.blocks.N.leaf.weight
                state[f"model.layers.{n}.{LLADA_TO_LLAMA[leaf]}.weight"] = w
    hf = transformers.LlamaForCausalLM(cfg)
    hf.load_state_dict({k: v.float() for k, v in state.items()})
    return hf.eval()


def test_llada_directory_loads_with_published_ids(llada_dir):
    model = load_model(llada_dir)
    spec = model.spec
    assert model.family.name == "llada" and not spec.shifted
    assert (spec.mask_id, spec.eos_id, spec.pad_id, spec.bos_id, spec.eot_id) == (126336, 126081, 126081, 126080, 126348)
    assert model.arch.vocab_size == 126464 and model.arch.max_positions == 4096


def test_llada_logits_equal_transformers(llada_dir):
    ours = load_model(llada_dir)
    hf = _llada_reference(llada_dir)
    ids = torch.randint(0, 126464, (2, 19), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (ours.aligned_logits(ids) - _bidirectional_logits(hf, ids)).abs().max() < 1e-4


def test_special_tokens_and_padding_rows_never_emitted(dream_dir, tmp_path):
    """The head is rigged so that a control token and a padding row (an embedding row past the
    tokenizer's last id) top every position: neither may ever reach a completion."""
    from safetensors.torch import load_file, save_file

    index = json.loads((dream_dir / "model.safetensors.index.json").read_text())["weight_map"]
    shard = dream_dir / index["lm_head.weight"]
    tensors = load_file(shard)
    head = tensors["lm_head.weight"].float()
    rigged = [151644, 151659, 151664, 152000]  # <|im_start|>, <|fim_prefix|>, <|file_sep|>, a padding row
    head[rigged] = 50.0 * torch.sign(torch.randn(len(rigged), head.shape[1]))
    tensors["lm_head.weight"] = head.to(torch.bfloat16)
    save_file(tensors, str(shard), metadata={"format": "pt"})
    engine = Engine.load(dream_dir, device="cpu")
    try:
        spec = engine.model.spec
        assert set(rigged) <= spec.never_ids and spec.mask_id in spec.never_ids
        assert not (set(spec.end_ids) & spec.never_ids), "end tokens stay: the loop's own rules place them"
        result = engine.infill("def f(x):\n    return ", "\n", mode="block", max_tokens=8, timeout=120)
        ids = engine.tokenizer.encode(result.text)
        assert result.tokens > 0 and not set(ids) & set(rigged)
        assert "<|" not in result.text
    finally:
        engine.close()


def test_tied_head_that_differs_is_refused(dream_dir, tmp_path):
    import shutil

    broken = tmp_path / "tied"
    shutil.copytree(dream_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["tie_word_embeddings"] = True
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"tie_word_embeddings=True.*lm_head\.weight differs from model\.embed_tokens\.weight"):
        load_model(broken)


@pytest.fixture(scope="module")
def coda_dir(tmp_path_factory):
    return build("coda-v0-instruct", tmp_path_factory.mktemp("real") / "coda")


def test_coda_loads_tied_by_its_class_default_with_published_ids(coda_dir):
    model = load_model(coda_dir)
    spec = model.spec
    assert "tie_word_embeddings" not in json.loads((coda_dir / "config.json").read_text())
    assert model.family.name == "coda" and model.arch.tied_head and model.arch.qk_norm and not model.arch.qkv_bias
    assert model.head.weight.data_ptr() == model.embed.weight.data_ptr()
    assert (spec.mask_id, spec.pad_id, spec.eos_id) == (151669, 151643, 151645) and spec.shifted
    assert spec.prompt_head == () and spec.window == 8192


def test_coda_logits_equal_transformers(coda_dir):
    ours = load_model(coda_dir)
    c = json.loads((coda_dir / "config.json").read_text())
    cfg = transformers.Qwen3Config(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], head_dim=c["head_dim"], rope_theta=c["rope_theta"],
        rms_norm_eps=c["rms_norm_eps"], tie_word_embeddings=True, attention_bias=False, attn_implementation="eager",
    )
    hf = transformers.Qwen3ForCausalLM.from_pretrained(coda_dir, config=cfg, dtype=torch.float32).eval()
    ids = torch.tensor([ours.tokenizer.encode("for i in range(10):\n    print(i)\n")[:18]])
    ref = _bidirectional_logits(hf, ids)
    ref = torch.cat([ref[:, :1], ref[:, :-1]], dim=1)
    with torch.no_grad():
        assert (ours.aligned_logits(ids) - ref).abs().max() < 1e-4


@pytest.mark.parametrize("name, family, window, head, tail", [
    ("dreamon-standin", "dreamon", 1024, (151665,), (151643,)),
    ("diffucoder-standin", "dream", 2048, (151665,), ()),
    ("open-dcoder-standin", "qwen2", 4096, (), ()),
])
def test_standins_take_their_family_layout(tmp_path, name, family, window, head, tail):
    from tests.real_checkpoints import build_standin

    model = load_model(build_standin(name, tmp_path / name))
    spec = model.spec
    assert model.family.name == family and spec.window == window
    assert spec.prompt_head == head and spec.prompt_tail == tail
    if name == "dreamon-standin":
        assert spec.expand_id == 151667 and spec.sources["expand"] == "the vocabulary's <|expand|>"
        assert 151667 not in spec.never_ids, "the loop places expands itself"
    if name == "diffucoder-standin":
        assert spec.expand_id is None and 151667 in spec.end_ids, "<|dlm_pad|> ends an answer"
    if name == "open-dcoder-standin":
        assert model.arch.tied_head and spec.bos_id == 151665, "a BOS is known but this layout starts without it"


def test_dreamon_canvas_as_its_authors_build_it(tmp_path):
    """BOS + prefix + 4 masks + suffix + EOS, a span that may grow to 64 (DreamOn's generator)."""
    from runtime.infill import RunOptions, build_canvas
    from runtime.jobs import CancelToken, InfillJob
    from tests.real_checkpoints import build_standin

    model = load_model(build_standin("dreamon-standin", tmp_path / "dreamon"))
    tok = model.tokenizer
    job = InfillJob(prefix="def f(x):\n    return ", suffix="\n\nprint(f(1))\n", mode="block", max_tokens=200)
    canvas = build_canvas(job, model, tok, RunOptions(max_context=model.spec.window), CancelToken())
    prefix, suffix = tok.encode("def f(x):\n    return "), tok.encode("\n\nprint(f(1))\n")
    assert canvas.ids == [151665, *prefix, *[151666] * 4, *suffix, 151643]
    assert canvas.gaps[0].budget == 64 and canvas.expand_id == 151667
