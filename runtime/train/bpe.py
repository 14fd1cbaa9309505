"""Byte-level BPE tokenizer for the embedded model, and the corpus turned into token memmaps.

Contract
--------
`python -m runtime.train.bpe --corpus data/corpus --vocab 8192 --out data/tokenizer.json` trains a
`tokenizers` byte-level BPE on a sample of data/corpus/train.jsonl and writes tokenizer.json; with
`--tokens data/tokens` it also writes data/tokens/{train,heldout}.bin (uint16, files joined by the eos
id) and adds the token counts to data/corpus/stats.json. `--compare 4096,8192,16384` prints tokens/char
on the held-out split for each vocab size (trained on a smaller sample) and exits. `--reuse FILE` skips
training and tokenizes with an existing tokenizer.json (the shipped model's, to train on from its weights).

Properties the runtime relies on:
- special tokens SPECIALS get ids 0, 1, 2 (mask, pad, eos) and are never produced from plain text;
- "\n" is always a token of its own (split off before BPE), so line boundaries are token boundaries
  and the newline id is NEWLINE's single id;
- decode(encode(s)) == s for any str (byte-level alphabet, byte-level decoder, no normaliser).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

MASK, PAD, EOS = "<|mask|>", "<|pad|>", "<|endoftext|>"
SPECIALS = (MASK, PAD, EOS)  # ids 0, 1, 2 in this order
NEWLINE = "\n"


def new_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # Isolate every "\n" first: BPE merges never cross a pre-token, so no token holds a newline
        # with other text (the decoder's line mode and the line-shaped gaps depend on it).
        pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train(texts: Iterator[str], vocab_size: int) -> Tokenizer:
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: any text encodes
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for i, name in enumerate(SPECIALS):
        assert tok.token_to_id(name) == i, f"{name} got id {tok.token_to_id(name)}, expected {i}"
    return tok


def read_texts(jsonl: Path, max_chars: int | None = None) -> Iterator[str]:
    """Texts of a corpus split in file order (corpus.py shuffles, so a prefix is a fair sample)."""
    total = 0
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            yield text
            total += len(text)
            if max_chars is not None and total >= max_chars:
                return


def tokens_per_char(tok: Tokenizer, texts: list[str]) -> float:
    tok.encode_special_tokens = True
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    return n_tokens / max(1, sum(len(t) for t in texts))


def write_tokens(tok: Tokenizer, jsonl: Path, out: Path, batch_files: int = 256) -> int:
    """Encode every file of a split into a flat uint16 stream, each file followed by the eos id."""
    eos = tok.token_to_id(EOS)
    # Source files do contain "<|endoftext|>" (tokenizer code): encode it as text, never as eos.
    tok.encode_special_tokens = True
    assert tok.get_vocab_size() <= np.iinfo(np.uint16).max + 1, "vocab too large for uint16"
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    batch: list[str] = []
    with open(out, "wb") as f:
        def flush() -> None:
            nonlocal count
            for enc in tok.encode_batch(batch, add_special_tokens=False):
                arr = np.asarray(enc.ids + [eos], dtype=np.uint16)  # (n + 1,)
                arr.tofile(f)
                count += arr.size
            batch.clear()

        for text in read_texts(jsonl):
            batch.append(text)
            if len(batch) >= batch_files:
                flush()
        if batch:
            flush()
    return count


def load_tokens(path: Path) -> np.memmap:
    return np.memmap(path, dtype=np.uint16, mode="r")


def special_ids(tok: Tokenizer) -> dict[str, int]:
    ids = tok.encode(NEWLINE, add_special_tokens=False).ids
    assert len(ids) == 1, f"newline encodes to {ids}, expected one token"
    return {"mask_id": tok.token_to_id(MASK), "pad_id": tok.token_to_id(PAD),
            "eos_id": tok.token_to_id(EOS), "newline_id": ids[0]}


def compare(corpus: Path, sizes: list[int], sample_chars: int) -> dict[int, float]:
    texts = list(read_texts(corpus / "train.jsonl", sample_chars))
    heldout = list(read_texts(corpus / "heldout.jsonl"))
    result = {}
    for size in sizes:
        t0 = time.time()
        tok = train(iter(texts), size)
        result[size] = round(tokens_per_char(tok, heldout), 4)
        print(f"vocab {size}: {result[size]} tokens/char on held-out ({time.time() - t0:.0f} s)", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the byte-level BPE and tokenize the corpus.")
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--out", type=Path, default=Path("data/tokenizer.json"))
    parser.add_argument("--sample-mb", type=float, default=30.0, help="training sample, millions of chars")
    parser.add_argument("--tokens", type=Path, default=None, help="also write {train,heldout}.bin here")
    parser.add_argument("--compare", type=str, default=None, help="comma-separated vocab sizes to measure")
    parser.add_argument("--reuse", type=Path, default=None, metavar="TOKENIZER_JSON",
                        help="skip training: copy this tokenizer (e.g. runtime/embedded/tokenizer.json, so that a "
                             "run can start from the shipped weights) and tokenize the corpus with it")
    args = parser.parse_args(argv)
    sample = int(args.sample_mb * 1e6)
    if args.compare:
        compare(args.corpus, [int(s) for s in args.compare.split(",")], sample)
        return
    stats_file = args.corpus / "stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    t0 = time.time()
    if args.reuse:
        tok = Tokenizer.from_file(str(args.reuse))
        sample = 0
    else:
        tok = train(read_texts(args.corpus / "train.jsonl", sample), args.vocab)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out))
    heldout = list(read_texts(args.corpus / "heldout.jsonl"))
    info = {"vocab_size": tok.get_vocab_size(), "sample_chars": sample, **special_ids(tok),
            "heldout_tokens_per_char": round(tokens_per_char(tok, heldout), 4),
            "train_seconds": round(time.time() - t0, 1)}
    print(json.dumps(info), flush=True)
    stats["tokenizer"] = info
    if args.tokens:
        t1 = time.time()
        counts = {split: write_tokens(tok, args.corpus / f"{split}.jsonl", args.tokens / f"{split}.bin")
                  for split in ("train", "heldout")}
        stats["tokens"] = {**counts, "dtype": "uint16", "separator": "eos",
                           "seconds": round(time.time() - t1, 1)}
        print(json.dumps(stats["tokens"]), flush=True)
    stats_file.write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
