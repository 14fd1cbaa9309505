"""Tokenizer: a thin wrapper over a `tokenizers` tokenizer (never remote code): a tokenizer.json, or
a Qwen2-style vocab.json + merges.txt directory as published without one (runtime/tokenizer_files.py).

encode(str) -> list[int] without special tokens added; decode(ids) -> str with special tokens kept
out only when asked. newline_ids: every id whose text contains a newline (line mode ends a gap there).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer as _HFTokenizer

from runtime.tokenizer_files import read_tokenizer_dir


class Tokenizer:
    def __init__(self, inner: _HFTokenizer) -> None:
        self.inner = inner
        # User text that spells a special token ("<|endoftext|>" in a file) stays plain text; transformers
        # would encode it as the token unless asked split_special_tokens=True. Added tokens flagged
        # non-special (Qwen2's <|fim_prefix|>, <tool_call>) are still matched, as transformers does.
        self.inner.encode_special_tokens = True

    @classmethod
    def from_file(cls, path: str | Path) -> "Tokenizer":
        return cls(_HFTokenizer.from_file(str(path)))

    @classmethod
    def from_dir(cls, path: str | Path) -> "Tokenizer":
        """A checkpoint directory's tokenizer: tokenizer.json, else vocab.json + merges.txt with the
        added tokens of tokenizer_config.json (TokenizerFilesError names what is missing)."""
        return cls(read_tokenizer_dir(path))

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text, add_special_tokens=False).ids if text else []

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(list(ids), skip_special_tokens=False) if ids else ""

    def token_to_id(self, token: str) -> int | None:
        return self.inner.token_to_id(token)

    def id_to_token(self, idx: int) -> str | None:
        return self.inner.id_to_token(idx)

    @property
    def vocab_size(self) -> int:
        return self.inner.get_vocab_size(with_added_tokens=True)

    @cached_property
    def _classes(self) -> tuple[frozenset[int], frozenset[int]]:
        """(newline ids, blank ids) in one pass over the vocabulary, on first use. Decoding one id at
        a time is exact for byte-level vocabularies (a token is whole bytes)."""
        newline, blank = set(), set()
        for idx in range(self.vocab_size):
            text = self.inner.decode([idx], skip_special_tokens=False)
            if "\n" in text:
                newline.add(idx)
            if text and not text.strip():  # newlines too: a block fill of only "\n" is as empty as "    "
                blank.add(idx)
        return frozenset(newline), frozenset(blank)

    @property
    def newline_ids(self) -> frozenset[int]:
        """Ids whose text holds a newline (line mode ends a gap there)."""
        return self._classes[0]

    @property
    def blank_ids(self) -> frozenset[int]:
        """Ids whose text is only whitespace, newlines included (a fill of only these counts as empty)."""
        return self._classes[1]

