"""Tokenizers as published: Dream's vocab.json + merges.txt (no tokenizer.json), LLaDA's special tokens.

Dream (tests/fixtures/real/dream-v0-instruct-7b, copied to tmp) is checked against three references:
- transformers' Qwen2Tokenizer.from_pretrained on the directory. We name the class: the directory's
  tokenizer_config.json names DreamTokenizer through an auto_map, i.e. remote code, which never runs.
  In transformers 5.x Qwen2TokenizerFast is this same class and there is no Python slow one any more.
- transformers' Qwen2Tokenizer constructed directly from vocab.json + merges.txt (no added tokens but
  the <|endoftext|> it adds itself): compared on texts that spell no added token.
- `SlowQwen2` below: transformers 4.x's slow Qwen2Tokenizer, which Dream's DreamTokenizer copies,
  restated (NFC on the whole text, Qwen2's regex, the byte map, BPE by merge rank) as a check of the
  `tokenizers` pipeline that shares no code with it.

Where transformers differs from us, and what is asserted:
- Special-token strings typed in text ("<|endoftext|>", "<|mask|>" in a file): transformers encodes
  each as its special id by default; we encode them as plain text (a code completer must not let a
  file's text become control tokens). Asserted: our ids equal transformers' with
  split_special_tokens=True, and differ from its default exactly where text spells a special token.
- Added tokens flagged non-special in the files (<tool_call> 151657, <|fim_prefix|> 151659 ...
  <|file_sep|> 151664): one id each, by us and by transformers under either setting (asserted).
  transformers 4.x's slow tokenizer with split_special_tokens=True would have kept them as text.
- Not NFC text: Qwen2 normalises to NFC before BPE (transformers too), so decode(encode(s)) is NFC(s),
  not s (asserted); for NFC text the round trip is exact (asserted, and as a hypothesis property).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.loader import load_tokenizer
from runtime.models import CheckpointError
from runtime.tokenizer import Tokenizer
from runtime.tokenizer_files import QWEN2_PATTERN
from tests.fixtures.real.llada_standin import LLADA_DIR, byte_symbols, write_standin

regex = pytest.importorskip("regex")
transformers = pytest.importorskip("transformers")
from transformers import Qwen2Tokenizer  # noqa: E402
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX  # noqa: E402

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
DREAM = REAL / "dream-v0-instruct-7b"
SPECIAL = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|beginoftext|>": 151665,
           "<|mask|>": 151666}
NON_SPECIAL = {"<tool_call>": 151657, "</tool_call>": 151658, "<|fim_prefix|>": 151659, "<|file_sep|>": 151664}
CODE = 'def f(x):\r\n\tif x:\r\n\t\treturn "naïve"  # 注释：返回\r\n    return None\r\n'
CORPUS = [
    CODE,
    "class Ünïcödé:\n    π = 3.14159  # 😀 👩‍💻 🇫🇷 👍🏽\n    名前 = 'テスト'\n",
    "café == cafe\u0301; Å vs A\u030a vs \u212b; \u1100\u1161 vs 가; e\u0301\u0323 vs e\u0323\u0301",  # NFC / NFD forms
    "x" + " " * 37 + "y\n" + "\t" * 9 + "z" + "\n" * 12 + "   \r\n\r\n  \r" + " " * 200,
    "don't I'LL we've 1234567890 ١٢٣ ½ \u00a0nbsp\u200bzw\ufeffbom \x00\x1b[0m \u2028 end",
    "a_very_long_identifier_" * 20 + "\n#!/usr/bin/env python3\n",
    "s = '<|endoftext|>'  # eos\nm = \"<|mask|><|mask|>\" + '<|beginoftext|>'\n<|im_start|>user",
    "<tool_call>{\"name\": 1}</tool_call> <|fim_prefix|>a<|file_sep|> <|endoftext| <|mask",
    "",
]


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_vendored_files_are_the_published_bytes():
    rows = [line.split("|")[1:3] for line in (REAL / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") == 3 and len(line.split("|")[2].strip()) == 40]
    listed = {name.strip(): blob.strip() for name, blob in rows}
    present = {str(p.relative_to(REAL)) for p in REAL.glob("*/*") if p.parent.name in (DREAM.name, LLADA_DIR.name)}
    assert set(listed) == present and len(listed) == 13
    for name, blob in listed.items():
        assert blob_id((REAL / name).read_bytes()) == blob, name


class SlowQwen2:
    """transformers 4.x's slow Qwen2Tokenizer (= Dream's DreamTokenizer) restated; splits on `added`."""

    def __init__(self, root: Path, added: dict[str, int]) -> None:
        self.encoder = json.loads((root / "vocab.json").read_text(encoding="utf-8"))
        lines = (root / "merges.txt").read_text(encoding="utf-8").split("\n")
        self.ranks = {tuple(line.split()): i for i, line in enumerate(lines)
                      if line.strip() and not (i == 0 and line.startswith("#version:"))}
        self.bytes = byte_symbols()
        self.added = added
        self.split = regex.compile("(" + "|".join(map(regex.escape, sorted(added, key=len, reverse=True))) + ")")
        self.words = regex.compile(PRETOKENIZE_REGEX)

    def bpe(self, word: tuple[str, ...]) -> list[str]:
        while len(word) > 1:
            pair = min(zip(word, word[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if word[i:i + 2] == pair:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        return list(word)

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self.split.split(unicodedata.normalize("NFC", text)):
            if piece in self.added:
                ids.append(self.added[piece])
                continue
            for word in self.words.findall(piece):
                ids += [self.encoder[t] for t in self.bpe(tuple(self.bytes[b] for b in word.encode("utf-8")))]
        return ids


@pytest.fixture(scope="module")
def dream_dir(tmp_path_factory):
    dst = tmp_path_factory.mktemp("dream") / "dream-v0-instruct-7b"
    shutil.copytree(DREAM, dst)
    return dst


@pytest.fixture(scope="module")
def ours(dream_dir):
    return Tokenizer.from_dir(dream_dir)


@pytest.fixture(scope="module")
def hf(dream_dir):
    return Qwen2Tokenizer.from_pretrained(str(dream_dir))


@pytest.fixture(scope="module")
def hf_direct(dream_dir):
    return Qwen2Tokenizer(vocab=str(dream_dir / "vocab.json"), merges=str(dream_dir / "merges.txt"))


@pytest.fixture(scope="module")
def slow(dream_dir):
    decoder = json.loads((dream_dir / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    return SlowQwen2(dream_dir, {t["content"]: int(i) for i, t in decoder.items() if not t["special"]})


def test_pipeline_is_transformers_qwen2(ours, hf):
    assert QWEN2_PATTERN == PRETOKENIZE_REGEX
    a, b = json.loads(ours.inner.to_str()), json.loads(hf.backend_tokenizer.to_str())
    for part in ("normalizer", "pre_tokenizer", "decoder", "model", "added_tokens"):
        assert a[part] == b[part], part
    assert ours.inner.get_added_tokens_decoder() == hf.backend_tokenizer.get_added_tokens_decoder()


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_encode_decode_match_transformers(text, ours, hf, hf_direct, slow):
    ids = ours.encode(text)
    assert ids == hf.encode(text, add_special_tokens=False, split_special_tokens=True)
    assert ids == slow.encode(text)
    if not any(t in text for t in (*SPECIAL, *NON_SPECIAL, "<|fim_", "<|repo_name|>")):
        assert ids == hf_direct.encode(text, add_special_tokens=False)
    default = hf.encode(text, add_special_tokens=False)
    spelled = [t for t in SPECIAL if t in text]
    assert (ids != default) == bool(spelled)  # transformers' default turns them into control tokens
    assert all(SPECIAL[t] in default and SPECIAL[t] not in ids for t in spelled)
    assert all(NON_SPECIAL[t] in ids and NON_SPECIAL[t] in default for t in NON_SPECIAL if t in text)
    assert ours.decode(ids) == hf.decode(ids) == unicodedata.normalize("NFC", text)
    if unicodedata.is_normalized("NFC", text):
        assert ours.decode(ids) == text


def test_special_ids(ours, dream_dir):
    config = json.loads((dream_dir / "config.json").read_text())
    tok_config = json.loads((dream_dir / "tokenizer_config.json").read_text())
    for content, idx in {**SPECIAL, **NON_SPECIAL}.items():
        assert ours.token_to_id(content) == idx and ours.id_to_token(idx) == content
    decoder = ours.inner.get_added_tokens_decoder()
    for idx, spec in tok_config["added_tokens_decoder"].items():
        got = decoder[int(idx)]
        assert (got.content, got.special, got.normalized, got.lstrip, got.rstrip) == (
            spec["content"], spec["special"], spec["normalized"], spec["lstrip"], spec["rstrip"])
    assert ours.token_to_id("<|mask|>") == config["mask_token_id"] and ours.vocab_size == 151667 < config["vocab_size"]
    assert ours.encode("<|mask|>") != [151666] and ours.decode([151666, 151643]) == "<|mask|><|endoftext|>"


def test_loader_reads_the_published_directory(dream_dir, ours):
    assert load_tokenizer(dream_dir).encode(CODE) == ours.encode(CODE)


PIECES = st.one_of(st.text(max_size=12), st.sampled_from([*SPECIAL, *NON_SPECIAL, "\r\n", "\t\t", " " * 9, "\n\n\n",
                                                          "中文", "😀", "e\u0301", "\u212b", "def ", "'ll", "٣"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(PIECES, max_size=8).map("".join))
def test_round_trip_property(ours, hf, text):
    assert ours.encode(text) == hf.encode(text, add_special_tokens=False, split_special_tokens=True)
    nfc = unicodedata.normalize("NFC", text)
    assert ours.decode(ours.encode(nfc)) == nfc


# LLaDA: the published special tokens over a stand-in BPE (tests/fixtures/real/llada_standin.py).

def test_llada_standin_special_ids(tmp_path):
    root = write_standin(tmp_path / "llada")
    tok = load_tokenizer(root)
    files = {n: json.loads((root / n).read_text()) for n in
             ("config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json")}
    decoder = tok.inner.get_added_tokens_decoder()
    for idx, spec in files["tokenizer_config.json"]["added_tokens_decoder"].items():
        assert tok.token_to_id(spec["content"]) == int(idx) and decoder[int(idx)].special == spec["special"]
    named = files["special_tokens_map.json"]
    assert [tok.token_to_id(named[k]["content"]) for k in ("bos_token", "eos_token", "pad_token", "cls_token")] == [
        126080, 126081, 126081, 126082]
    assert tok.token_to_id("<|startoftext|>") == files["generation_config.json"]["bos_token_id"] == 126080
    assert tok.token_to_id("<|endoftext|>") == files["config.json"]["eos_token_id"] == files["config.json"]["pad_token_id"]
    assert tok.token_to_id("<|mdm_mask|>") == files["config.json"]["mask_token_id"] == 126336
    assert tok.token_to_id("<|eot_id|>") == 126348 and tok.vocab_size == 126349 <= files["config.json"]["vocab_size"]
    text = CODE + "<|mdm_mask|> 中文 😀"
    assert 126336 not in tok.encode(text) and tok.decode(tok.encode(text)) == text


# Errors: tiny Qwen2-style directories (256 byte symbols, one merge).

def _tiny_dir(root: Path, config: dict | None = None, files: dict | None = None) -> Path:
    """config: tokenizer_config.json changes (None drops a key)."""
    root.mkdir(parents=True)
    (root / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(byte_symbols())} | {"de": 256}))
    (root / "merges.txt").write_text("#version: 0.2\nd e\n")
    added = {"257": {"content": "<|endoftext|>", "special": True, "normalized": False, "lstrip": False, "rstrip": False}}
    config = {"tokenizer_class": "Qwen2Tokenizer", "added_tokens_decoder": added, "eos_token": "<|endoftext|>"} | (config or {})
    (root / "tokenizer_config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    for name, data in (files or {}).items():
        (root / name).write_text(json.dumps(data))
    return root


def test_added_tokens_are_read_as_transformers_reads_them(tmp_path):
    # With added_tokens_decoder, added_tokens.json and special_tokens_map.json are legacy and unread;
    # a named special token found nowhere is appended at the next free id.
    root = _tiny_dir(tmp_path / "t", {"mask_token": "<|m|>"},
                     {"added_tokens.json": {"<|x|>": 258}, "special_tokens_map.json": {"cls_token": "<|c|>"}})
    tok, hf = Tokenizer.from_dir(root), Qwen2Tokenizer.from_pretrained(str(root))
    assert [tok.token_to_id(t) for t in ("de", "<|endoftext|>", "<|m|>", "<|x|>", "<|c|>")] == [256, 257, 258, None, None]
    assert tok.inner.get_added_tokens_decoder() == hf.backend_tokenizer.get_added_tokens_decoder()
    # Without it (legacy): added_tokens.json at its ids, special when special_tokens_map.json names it.
    root = _tiny_dir(tmp_path / "legacy", {"added_tokens_decoder": None, "eos_token": None}, {
        "added_tokens.json": {"<|endoftext|>": 257, "<|x|>": 258},
        "special_tokens_map.json": {"eos_token": {"content": "<|endoftext|>", "lstrip": False, "rstrip": False,
                                                  "normalized": False, "single_word": False}, "mask_token": "<|m|>"}})
    tok, hf = Tokenizer.from_dir(root), Qwen2Tokenizer.from_pretrained(str(root))
    assert [tok.token_to_id(t) for t in ("<|endoftext|>", "<|x|>", "<|m|>")] == [257, 258, 259]
    assert tok.inner.get_added_tokens_decoder() == hf.backend_tokenizer.get_added_tokens_decoder()


@pytest.mark.parametrize("remove, expect", [
    (("vocab.json", "merges.txt"), "tokenizer.json is missing, and so is vocab.json and merges.txt"),
    (("merges.txt",), "tokenizer.json is missing, and so is merges.txt "),
    (("vocab.json",), "tokenizer.json is missing, and so is vocab.json "),
])
def test_missing_files_are_named(tmp_path, remove, expect):
    root = _tiny_dir(tmp_path / "t")
    for name in remove:
        (root / name).unlink()
    with pytest.raises(CheckpointError, match=expect):
        load_tokenizer(root)


@pytest.mark.parametrize("config, files, expect", [
    ({"tokenizer_class": "GPT2Tokenizer"}, {}, "names tokenizer_class 'GPT2Tokenizer'"),
    ({"added_tokens_decoder": {"300": {"content": "<|far|>", "special": True}}}, {}, "next free id is 257"),
    ({"added_tokens_decoder": {"5": {"content": "de", "special": True}}}, {}, "'de' has id 5, but vocab.json gives it id 256"),
])
def test_inconsistent_files_are_named(tmp_path, config, files, expect):
    with pytest.raises(CheckpointError, match=expect):
        load_tokenizer(_tiny_dir(tmp_path / "t", config, files))
