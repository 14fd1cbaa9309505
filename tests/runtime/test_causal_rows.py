"""Causal (next-token) rows of the training mix: batches, attention and loss.

With shifted logits a causal row is plain next-token training, so its loss must equal
transformers' Qwen2ForCausalLM loss on the same weights (causal mask, labels = inputs); in a batch
that mixes causal and bidirectional rows, each row must see only what its own kind allows.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from runtime.loader import new_model, save_model
from runtime.train.examples import sample_batch
from runtime.train.loop import diffusion_loss
from tests.helpers import qwen2_config, write_tokenizer
from tests.runtime.test_examples import EOS, MASK, NL, PAD, STREAM, T


def _batch(p_ar: float, seed: int = 0, batch_size: int = 16) -> dict:
    return sample_batch(STREAM, batch_size, T, np.random.default_rng(seed), NL, MASK, PAD, EOS, p_ar=p_ar)


def test_causal_rows_are_whole_windows_in_the_loss():
    b = _batch(p_ar=0.5, batch_size=64)
    causal = b["causal"]
    assert 10 < int(causal.sum()) < 54  # both kinds drawn
    assert (b["kind"][causal] == 3).all() and (b["kind"][~causal] != 3).all()
    assert torch.equal(b["input_ids"][causal], b["targets"][causal])  # nothing masked
    assert b["loss_mask"][causal].all() and (b["weights"][causal] == 1.0).all()
    assert (b["input_ids"][~causal] == MASK).any(dim=1).all()  # masked rows keep their masks
    assert not _batch(p_ar=0.0, batch_size=64)["causal"].any()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("causal")
    tok = write_tokenizer(d / "tok", vocab=260)
    config = qwen2_config(vocab=tok.vocab_size, model_type="qwen2", tied=True, rope_theta=321.0)
    torch.manual_seed(0)
    model = new_model(config, tok)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    save_model(model, d / "m", d / "tok" / "tokenizer.json")
    return model, d / "m", config


def test_causal_loss_matches_transformers(tiny):
    model, path, c = tiny
    b = _batch(p_ar=1.0, batch_size=4)
    hf_cfg = transformers.Qwen2Config(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], rope_theta=c["rope_theta"], rms_norm_eps=c["rms_norm_eps"],
        tie_word_embeddings=True, attn_implementation="eager")
    hf = transformers.Qwen2ForCausalLM.from_pretrained(path, config=hf_cfg).eval()
    ids = b["input_ids"]
    with torch.no_grad():
        ref = hf(input_ids=ids, labels=ids).loss  # mean CE over B * (T - 1) next-token predictions
        ours = diffusion_loss(model, b, shifted=True)  # the same predictions, / B * (T - 1) positions
    assert abs(float(ours) - float(ref)) < 1e-4


def test_mixed_batch_rows_keep_their_own_attention(tiny):
    model = tiny[0]
    b = _batch(p_ar=0.5, batch_size=12, seed=3)
    causal = b["causal"]
    assert causal.any() and (~causal).any()
    with torch.no_grad():
        # Each loss is a sum over its rows / (rows * (T - 1)): compare the sums.
        mixed = diffusion_loss(model, b, shifted=True) * len(causal) * (T - 1)
        parts = sum(diffusion_loss(model, {k: v[rows] for k, v in b.items()}, shifted=True) * int(rows.sum()) * (T - 1)
                    for rows in (causal, ~causal))
    assert abs(float(mixed) - float(parts)) < 1e-3 * float(mixed)
    # The causal part really is causal: changing a row's last token leaves its other predictions.
    one = {k: v[causal][:1].clone() for k, v in b.items()}
    other = {k: v.clone() for k, v in one.items()}
    other["input_ids"][0, -1] = (other["input_ids"][0, -1] + 1) % 200 + 4
    with torch.no_grad():
        h1 = model.hidden(one["input_ids"], key_mask=torch.ones(T, T, dtype=torch.bool).tril()[None])
        h2 = model.hidden(other["input_ids"], key_mask=torch.ones(T, T, dtype=torch.bool).tril()[None])
        h3 = model.hidden(other["input_ids"])  # bidirectional: everything moves
    assert torch.allclose(h1[0, :-1], h2[0, :-1], atol=1e-5) and not torch.allclose(h1[0, -1], h2[0, -1])
    assert not torch.allclose(h1[0, :-1], h3[0, :-1], atol=1e-3)


def test_causal_rows_need_shifted_logits(tiny):
    with pytest.raises(ValueError, match="shifted"):
        diffusion_loss(tiny[0], _batch(p_ar=1.0, batch_size=2), shifted=False)
