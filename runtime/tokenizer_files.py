"""A checkpoint directory's tokenizer files -> a `tokenizers` Tokenizer, never running their code.

tokenizer.json when the directory has one. Otherwise a Qwen2-style byte-level BPE from vocab.json +
merges.txt (Dream-org/Dream-v0-Instruct-7B publishes only these: its `DreamTokenizer` is remote code
that copies transformers 4.x's slow Qwen2Tokenizer), built as transformers' own Qwen2Tokenizer builds
it (transformers/models/qwen2/tokenization_qwen2.py): BPE without unk, an NFC normaliser, a Split on
Qwen2's regex (isolated) then ByteLevel without prefix space and without its own regex, a ByteLevel
decoder. Added tokens come from tokenizer_config.json `added_tokens_decoder` (flags as written), or,
for directories without it, from added_tokens.json and special_tokens_map.json: transformers reads
those two only then (legacy files). Every added token lands at the id the files give it or this fails.
"""
from __future__ import annotations

import json
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.models import BPE

# transformers' Qwen2 PRETOKENIZE_REGEX, character for character.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# tokenizer_config.json classes that are Qwen2's byte-level BPE (DreamTokenizer: Dream's remote copy).
QWEN2_CLASSES = ("Qwen2Tokenizer", "Qwen2TokenizerFast", "DreamTokenizer")
QWEN2_DEFAULTS = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
NAMED_SPECIALS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
TOKEN_FLAGS = ("single_word", "lstrip", "rstrip", "normalized", "special")


class TokenizerFilesError(ValueError):
    """The directory's tokenizer files are missing, inconsistent or of an unsupported kind."""


def read_tokenizer_dir(path: str | Path) -> HFTokenizer:
    root = Path(path)
    if (root / "tokenizer.json").is_file():
        return HFTokenizer.from_file(str(root / "tokenizer.json"))
    missing = [n for n in ("vocab.json", "merges.txt") if not (root / n).is_file()]
    if missing:
        raise TokenizerFilesError(f"no tokenizer in {root}: tokenizer.json is missing, and so is "
                                  f"{' and '.join(missing)} (needed to build a byte-level BPE without it)")
    config = _json(root / "tokenizer_config.json")
    kind = config.get("tokenizer_class")
    if kind not in QWEN2_CLASSES:
        raise TokenizerFilesError(f"{root} has vocab.json + merges.txt but no tokenizer.json, and its tokenizer_config.json "
                                  f"names tokenizer_class {kind!r}: only {', '.join(QWEN2_CLASSES)} are built without tokenizer.json")
    config = QWEN2_DEFAULTS | config  # the class's own defaults where the file is silent (null stays null)
    tok = qwen2_bpe(root / "vocab.json", root / "merges.txt", add_prefix_space=bool(config.get("add_prefix_space")))
    place_added_tokens(tok, added_tokens(config, _json(root / "added_tokens.json"),
                                         _json(root / "special_tokens_map.json"), tok))
    return tok


def qwen2_bpe(vocab_file: str | Path, merges_file: str | Path, add_prefix_space: bool = False) -> HFTokenizer:
    """vocab.json + merges.txt with the pipeline of transformers' Qwen2Tokenizer (no added tokens)."""
    tok = HFTokenizer(BPE.from_file(str(vocab_file), str(merges_file), dropout=None, unk_token=None,
                                    continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def added_tokens(config: dict, added: dict, special_map: dict, tok: HFTokenizer) -> dict[int, AddedToken]:
    """id -> AddedToken, read as transformers 5.x reads them: tokenizer_config.json `added_tokens_decoder`
    with its flags when present; only without it (legacy) added_tokens.json and special_tokens_map.json.
    A named special token (bos_token, ...) found nowhere else gets its vocab.json id, else the next
    free id, as transformers appends it."""
    tokens: dict[int, AddedToken] = {}
    if config.get("added_tokens_decoder") is not None:
        for idx, spec in config["added_tokens_decoder"].items():
            tokens[int(idx)] = AddedToken(spec["content"], **{k: bool(spec[k]) for k in TOKEN_FLAGS if k in spec})
        named = _named_specials(config)
    else:
        named = _named_specials(config) | _named_specials(special_map)
        for content, idx in added.items():
            special = content in named
            tokens[int(idx)] = AddedToken(content, lstrip=False, rstrip=False, normalized=not special, special=special)
    have = {t.content for t in tokens.values()}
    for content, flags in named.items():
        if content not in have:
            idx = tok.model.token_to_id(content)
            idx = max([tok.get_vocab_size(with_added_tokens=False) - 1, *tokens]) + 1 if idx is None else idx
            tokens[idx] = AddedToken(content, **{**flags, "special": True})
            have.add(content)
    return tokens


def place_added_tokens(tok: HFTokenizer, tokens: dict[int, AddedToken]) -> None:
    """Add each token at its id: an id inside the BPE vocabulary must hold the same text; one past it
    must be the next free id (a gap would shift every later token)."""
    for idx in sorted(tokens):
        token = tokens[idx]
        have = tok.model.token_to_id(token.content)
        if have is None and idx != tok.get_vocab_size(with_added_tokens=True):
            raise TokenizerFilesError(f"added token {token.content!r} has id {idx}, but the next free id is "
                                      f"{tok.get_vocab_size(with_added_tokens=True)} (ids must run on without gaps)")
        if have is not None and have != idx:
            raise TokenizerFilesError(f"added token {token.content!r} has id {idx}, but vocab.json gives it id {have}")
        tok.add_tokens([token])
        if tok.token_to_id(token.content) != idx:
            raise TokenizerFilesError(f"added token {token.content!r} landed at id {tok.token_to_id(token.content)}, not {idx}")


def _named_specials(source: dict) -> dict[str, dict]:
    """content -> AddedToken flags for the special tokens a config or special_tokens_map names."""
    values = [source.get(k) for k in NAMED_SPECIALS]
    for key in ("additional_special_tokens", "extra_special_tokens"):  # v5 may write the latter as a dict
        extra = source.get(key) or []
        values += list(extra.values()) if isinstance(extra, dict) else list(extra)
    out = {}
    for value in values:
        if isinstance(value, str):
            out[value] = {"normalized": False}
        elif isinstance(value, dict) and value.get("content"):
            out[value["content"]] = {k: bool(value[k]) for k in TOKEN_FLAGS[:4] if k in value}
    return out


def _json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TokenizerFilesError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TokenizerFilesError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data
