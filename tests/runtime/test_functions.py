"""The function-document stream (runtime/train/functions.py) and the trainer's mixed batches."""
from __future__ import annotations

import json
import textwrap

import numpy as np

from runtime.train.functions import function_docs, main as functions_main
from runtime.train.loop import TrainConfig, Trainer
from tests.runtime.test_train import make_data

MODULE = textwrap.dedent('''\
    import os
    import re as regex
    from typing import List, Dict

    CONSTANT = 3


    def split_words(text: str) -> List[str]:
        """Words of text."""
        return regex.split(r"\\s+", text)


    @staticmethod
    def join(parts):
        out = ""
        for p in parts:
            out += p
        return out


    def stub():
        """Only a docstring."""
        raise NotImplementedError


    class Box:
        def method(self):
            x = 1
            y = 2
            return x + y
    ''')


def test_function_docs_keep_free_functions_with_the_imports_they_use():
    docs = function_docs(MODULE)
    assert len(docs) == 2, docs  # no stub, no method
    words, join = docs
    # Only the imports whose names the function uses, then two blank lines, then the function.
    assert words.startswith("import re as regex\nfrom typing import List, Dict\n\n\ndef split_words(")
    assert "import os" not in words
    assert join.startswith("@staticmethod\ndef join(parts):\n") and "import" not in join
    assert join.endswith("    return out\n")
    assert function_docs("def broken(:\n    pass\n") == []


def test_function_docs_respect_the_length_window():
    long_fn = "def f(x):\n" + "".join(f"    x += {i}\n" for i in range(80)) + "    return x\n"
    short_fn = "def g(x): return x\n"
    assert function_docs(long_fn) == [] and function_docs(short_fn) == []


def test_streams_and_a_mixed_batch(tmp_path):
    data = tmp_path / "data"
    tok = make_data(data)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "heldout"):
        with open(corpus / f"{split}.jsonl", "w") as f:
            for k in range(12):
                f.write(json.dumps({"path": f"m{k}.py", "text": MODULE.replace("split_words", f"split_{k}")}) + "\n")
    functions_main(["--corpus", str(corpus), "--tokenizer", str(data / "tokenizer.json"), "--tokens", str(data / "tokens")])
    stats = json.loads((corpus / "stats.json").read_text())["functions"]
    assert stats["train"]["documents"] == 24 and stats["train"]["tokens"] > 0
    stream = np.fromfile(data / "tokens" / "functions-train.bin", dtype=np.uint16)
    assert len(stream) == stats["train"]["tokens"]
    assert int((stream == tok.token_to_id("<|endoftext|>")).sum()) == 24  # one eos after each document

    cfg = TrainConfig(data=str(data), run=str(tmp_path / "run"), hidden=32, layers=1, heads=2, kv_heads=1,
                      intermediate=64, seq_len=96, batch=64, functions=1.0, threads=1, bf16=False)
    trainer = Trainer(cfg)
    batch = trainer.train_batch()
    assert batch["input_ids"].shape == (64, 96)
    fn_vocab = set(stream.tolist()) | {trainer.ids["mask_id"], trainer.ids["pad_id"]}
    # Every row comes from the function stream when the share is 1.
    assert all(set(row.tolist()) <= fn_vocab for row in batch["input_ids"])
    assert "heldout_fn_loss" not in trainer.state
    trainer.evaluate()
    assert trainer.state["heldout_fn_loss"] > 0 and trainer.state["heldout_loss"] > 0
    cfg.functions = 0.5
    mixed = trainer.train_batch()
    from_fn = [set(row.tolist()) <= fn_vocab for row in mixed["input_ids"]]
    assert 0 < sum(from_fn) < 64  # both streams in one batch (Binomial(64, 0.5) is never 0 or 64 here)
