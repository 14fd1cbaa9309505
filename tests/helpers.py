"""Builders for tiny checkpoints that tests write to temp dirs: a small byte-level BPE tokenizer
with the special tokens the runtime needs, and config dicts in each family's dialect."""
from __future__ import annotations

import inspect
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from runtime.tokenizer import Tokenizer

SPECIALS = ["<|mask|>", "<|pad|>", "<|endoftext|>", "<|eot_id|>", "<|x1|>", "<|x2|>", "<|x3|>", "<|x4|>", "<|x5|>", "<|x6|>"]


def _training_text() -> list[str]:
    import json, textwrap, dataclasses  # noqa: E401  (their sources are the training text)

    return [inspect.getsource(m) for m in (json, textwrap, dataclasses)]


def write_tokenizer(out_dir: Path, vocab: int = 400) -> Tokenizer:
    """A byte-level BPE (newline split off as its own token) trained on a few stdlib modules."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("\n", behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_training_text(), trainer)
    tok.save(str(out_dir / "tokenizer.json"))
    return Tokenizer.from_file(out_dir / "tokenizer.json")


def qwen2_config(vocab: int, model_type="qwen2", tied=False, rope_theta=10000.0, mask_id=0, eos_id=2, pad_id=None,
                 hidden=32, layers=2, heads=4, kv_heads=2, inter=48, shifted=None) -> dict:
    config = {
        "model_type": model_type, "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "rope_theta": rope_theta, "rms_norm_eps": 1e-6, "tie_word_embeddings": tied,
        "mask_token_id": mask_id, "eos_token_id": eos_id, "pad_token_id": eos_id if pad_id is None else pad_id,
        "max_position_embeddings": 4096,
    }
    if shifted is not None:
        config["logits_shifted"] = shifted
    return config


def llada_config(vocab: int, rope_theta=500000.0, mask_id=0, eos_id=2, hidden=32, layers=2, heads=4, kv_heads=4, inter=40) -> dict:
    return {
        "model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": hidden, "n_layers": layers,
        "n_heads": heads, "n_kv_heads": kv_heads, "mlp_hidden_size": inter, "vocab_size": vocab,
        "embedding_size": vocab, "rms_norm_eps": 1e-5, "include_bias": False, "weight_tying": False,
        "rope_theta": rope_theta, "max_sequence_length": 4096, "mask_token_id": mask_id, "eos_token_id": eos_id,
        "pad_token_id": eos_id,
    }
