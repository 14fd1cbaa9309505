"""Parity: our aligned_logits equal transformers' on tiny random checkpoints the test writes.

Dream format (Qwen2 names, q/k/v biases, sharded, untied, shifted) and plain tied Qwen2 against
Qwen2ForCausalLM with is_causal=False; LLaDA format (OLMo-style names) against LlamaForCausalLM with
the same weights renamed, unshifted. Odd rope theta and special ids so hard-coded values fail.
"""
from __future__ import annotations

import torch
import transformers

from runtime import load_model
from runtime.loader import save_model, new_model
from tests.helpers import write_tokenizer, qwen2_config, llada_config


def _bidirectional(model):
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    model.config.use_cache = False
    return model


def _hf_logits(hf, ids):
    t = ids.shape[1]
    # A 4-D float mask of zeros: every query sees every key (no causal mask).
    mask = torch.zeros(ids.shape[0], 1, t, t)
    with torch.no_grad():
        return hf(input_ids=ids, attention_mask=mask).logits


def _randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def _qwen_hf(ours, tied):
    c = ours.config
    cfg = transformers.Qwen2Config(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], rope_theta=c["rope_theta"], rms_norm_eps=c["rms_norm_eps"],
        tie_word_embeddings=tied, attn_implementation="eager",
    )
    return cfg


def test_dream_sharded_parity(tmp_path):
    tok = write_tokenizer(tmp_path / "tok")
    config = qwen2_config(vocab=tok.vocab_size, model_type="Dream", tied=False, rope_theta=12345.0, mask_id=7, eos_id=3)
    ours = _randomise(new_model(config, tok), 0)
    save_model(ours, tmp_path / "dream", tmp_path / "tok" / "tokenizer.json", shards=3)
    assert (tmp_path / "dream" / "model.safetensors.index.json").exists()
    loaded = load_model(tmp_path / "dream")
    assert loaded.spec.shifted and loaded.spec.mask_id == 7 and loaded.spec.eos_id == 3
    hf = transformers.Qwen2ForCausalLM.from_pretrained(tmp_path / "dream", config=_qwen_hf(ours, tied=False))
    hf = _bidirectional(hf.eval())
    assert hf.model.layers[0].self_attn.q_proj.bias.abs().sum() > 0  # biases really loaded
    ids = torch.randint(0, tok.vocab_size, (2, 23), generator=torch.Generator().manual_seed(1))
    ref = _hf_logits(hf, ids)
    ref = torch.cat([ref[:, :1], ref[:, :-1]], dim=1)  # Dream shift
    with torch.no_grad():
        got = loaded.aligned_logits(ids)
    assert (got - ref).abs().max() < 1e-4


def test_plain_qwen2_tied_parity(tmp_path):
    tok = write_tokenizer(tmp_path / "tok")
    config = qwen2_config(vocab=tok.vocab_size, model_type="qwen2", tied=True, rope_theta=777.0, mask_id=5, eos_id=4)
    ours = _randomise(new_model(config, tok), 2)
    assert ours.head.weight is ours.embed.weight
    save_model(ours, tmp_path / "q", tmp_path / "tok" / "tokenizer.json")
    loaded = load_model(tmp_path / "q")
    assert loaded.head.weight.data_ptr() == loaded.embed.weight.data_ptr()
    hf = _bidirectional(transformers.Qwen2ForCausalLM.from_pretrained(tmp_path / "q", config=_qwen_hf(ours, tied=True)).eval())
    ids = torch.randint(0, tok.vocab_size, (1, 17), generator=torch.Generator().manual_seed(3))
    ref = _hf_logits(hf, ids)
    ref = torch.cat([ref[:, :1], ref[:, :-1]], dim=1)
    with torch.no_grad():
        assert (loaded.aligned_logits(ids) - ref).abs().max() < 1e-4


def test_llada_parity(tmp_path):
    tok = write_tokenizer(tmp_path / "tok")
    config = llada_config(vocab=tok.vocab_size, rope_theta=31337.0, mask_id=9, eos_id=2)
    ours = _randomise(new_model(config, tok), 4)
    save_model(ours, tmp_path / "llada", tmp_path / "tok" / "tokenizer.json", shards=2)
    loaded = load_model(tmp_path / "llada")
    assert not loaded.spec.shifted and loaded.spec.mask_id == 9
    hf_cfg = transformers.LlamaConfig(
        vocab_size=config["embedding_size"], hidden_size=config["d_model"], intermediate_size=config["mlp_hidden_size"],
        num_hidden_layers=config["n_layers"], num_attention_heads=config["n_heads"],
        num_key_value_heads=config["n_kv_heads"], rope_theta=config["rope_theta"], rms_norm_eps=config["rms_norm_eps"],
        tie_word_embeddings=False, attn_implementation="eager",
    )
    hf = transformers.LlamaForCausalLM(hf_cfg)
    rename = {
        "self_attn.q_proj": "attn.q", "self_attn.k_proj": "attn.k", "self_attn.v_proj": "attn.v",
        "self_attn.o_proj": "attn.o", "mlp.gate_proj": "mlp.gate", "mlp.up_proj": "mlp.up",
        "mlp.down_proj": "mlp.down", "input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm",
    }
    ours_state = ours.state_dict()
    hf_state = {}
    for name in hf.state_dict():
        mapped = name.replace("model.embed_tokens", "embed").replace("model.norm", "norm").replace("lm_head", "head")
        mapped = mapped.replace("model.layers", "layers")
        for a, b in rename.items():
            mapped = mapped.replace(a, b)
        hf_state[name] = ours_state[mapped]
    hf.load_state_dict(hf_state)
    hf = _bidirectional(hf.eval())
    ids = torch.randint(0, tok.vocab_size, (2, 19), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (loaded.aligned_logits(ids) - _hf_logits(hf, ids)).abs().max() < 1e-4


def test_qwen3_qk_norm_parity(tmp_path):
    """Qwen3-style (CoDA): per-head q/k RMSNorm, no q/k/v bias, shifted."""
    tok = write_tokenizer(tmp_path / "tok")
    config = qwen2_config(vocab=tok.vocab_size, model_type="qwen3", tied=False, rope_theta=4321.0, mask_id=6, eos_id=2)
    config["head_dim"] = 16  # Qwen3 sets head_dim apart from hidden / heads
    ours = _randomise(new_model(config, tok), 6)
    assert ours.layers[0].attn.q_norm is not None and ours.layers[0].attn.q.bias is None
    save_model(ours, tmp_path / "q3", tmp_path / "tok" / "tokenizer.json")
    loaded = load_model(tmp_path / "q3")
    cfg = transformers.Qwen3Config(
        vocab_size=config["vocab_size"], hidden_size=config["hidden_size"], intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"], num_attention_heads=config["num_attention_heads"],
        num_key_value_heads=config["num_key_value_heads"], head_dim=16, rope_theta=config["rope_theta"],
        rms_norm_eps=config["rms_norm_eps"], tie_word_embeddings=False, attention_bias=False, attn_implementation="eager",
    )
    hf = _bidirectional(transformers.Qwen3ForCausalLM.from_pretrained(tmp_path / "q3", config=cfg).eval())
    ids = torch.randint(0, tok.vocab_size, (2, 21), generator=torch.Generator().manual_seed(7))
    ref = _hf_logits(hf, ids)
    ref = torch.cat([ref[:, :1], ref[:, :-1]], dim=1)
    with torch.no_grad():
        assert (loaded.aligned_logits(ids) - ref).abs().max() < 1e-4
