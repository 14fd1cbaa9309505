"""Special token ids of a checkpoint directory, from its files, by one written rule.

Real releases disagree with themselves: Dream-v0-Instruct's config.json says bos 151643
(`<|endoftext|>`, a leftover of Qwen2's config) while its tokenizer_config.json names
`<|beginoftext|>` 151665, the BOS its authors' prompts start with. The rule, per role (the first
source that names an id wins; every other source that names a different one is kept in
`conflicts`, and stats()/the README show it):

  mask    config.json mask_token_id > generation_config.json mask_token_id > tokenizer files'
          mask_token > a mask-named token in the vocabulary. The model's own generate() reads the
          config (Dream's generation_utils, LLaDA's generate.py uses the config's 126336).
  bos     tokenizer files' bos_token > generation_config.json > config.json. The canvas's first
          token is a prompt token, and the authors build prompts with the tokenizer.
  eos     tokenizer files' eos_token > generation_config.json (first of a list) > config.json.
  pad     tokenizer files' pad_token > generation_config.json > config.json > eos.
  eot     a turn-end token in the vocabulary (`<|eot_id|>`, `<|im_end|>`): Instruct models end
          an answer there; config.json eot_token_id first when present.
  expand  config.json expand_token_id > DreamOn's `<|expand|>` among the directory's tokens.
  dlm_pad `<|dlm_pad|>` among the directory's tokens (DiffuCoder pads fixed-length answers with it).

"Tokenizer files" means tokenizer_config.json, then special_tokens_map.json; a token named there
by its text resolves to its id through the tokenizer. Every id must exist in the vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from runtime.models.family import EOT_TOKEN_NAMES, EXPAND_TOKEN_NAMES, MASK_TOKEN_NAMES, CheckpointError

ROLES = ("mask", "bos", "eos", "pad", "eot", "expand", "dlm_pad")


@dataclass
class Files:
    """The JSON files of a directory that name special tokens ({} when a file is absent)."""

    config: dict
    generation: dict = field(default_factory=dict)
    tokenizer_config: dict = field(default_factory=dict)
    special_map: dict = field(default_factory=dict)


@dataclass
class SpecialIds:
    ids: dict[str, int | None]
    sources: dict[str, str]  # role -> the source its id came from
    conflicts: list[str]  # "bos: config.json says 151643, tokenizer_config.json bos_token 151665 wins"


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def _token_text(value) -> str | None:
    """A tokenizer file's token entry: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _id_of(tok, text: str | None) -> int | None:
    return tok.token_to_id(text) if tok is not None and text is not None else None


def _candidates(role: str, f: Files, tok) -> list[tuple[str, int | None]]:
    """(source, id) pairs for a role, in precedence order."""
    def cfg(name, key):
        return (f"{name} {key}", _first(getattr(f, "config" if name == "config.json" else "generation").get(key)))

    def tokfile(key):
        return [(f"tokenizer_config.json {key}", _id_of(tok, _token_text(f.tokenizer_config.get(key)))),
                (f"special_tokens_map.json {key}", _id_of(tok, _token_text(f.special_map.get(key))))]

    def named(names):
        return [(f"the vocabulary's {n}", _id_of(tok, n)) for n in names]

    if role == "mask":
        return [cfg("config.json", "mask_token_id"), cfg("generation_config.json", "mask_token_id"),
                *tokfile("mask_token"), *named(MASK_TOKEN_NAMES)]
    if role in ("bos", "eos", "pad"):
        return [*tokfile(f"{role}_token"), cfg("generation_config.json", f"{role}_token_id"),
                cfg("config.json", f"{role}_token_id")]
    if role == "eot":
        return [cfg("config.json", "eot_token_id"), *named(EOT_TOKEN_NAMES)]
    if role == "expand":
        return [cfg("config.json", "expand_token_id"), *named(EXPAND_TOKEN_NAMES)]
    return named(("<|dlm_pad|>",))


def resolve(files: Files, tok, vocab_size: int) -> SpecialIds:
    """Every role's id by the rule above; CheckpointError when mask or eos is missing or an id is
    not in the vocabulary."""
    ids, sources, conflicts = {}, {}, []
    for role in ROLES:
        found = [(src, idx) for src, idx in _candidates(role, files, tok) if idx is not None]
        for src, idx in found:
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise CheckpointError(f"{src} must be a token id (an integer), got {idx!r}")
        winner = found[0] if found else (None, None)
        ids[role], sources[role] = winner[1], winner[0] or "none"
        conflicts += [f"{role}: {src} says {idx}, {winner[0]} ({winner[1]}) wins"
                      for src, idx in found[1:] if idx != winner[1] and not src.startswith("the vocabulary")]
    if ids["pad"] is None:
        ids["pad"], sources["pad"] = ids["eos"], "eos"
    for role in ("mask", "eos"):
        if ids[role] is None:
            raise CheckpointError(f"no {role} token: set {role}_token_id in config.json or name it in the tokenizer files")
    for role, idx in ids.items():
        if idx is not None and (not 0 <= idx < vocab_size or (tok is not None and tok.id_to_token(idx) is None)):
            raise CheckpointError(f"special token {role} id {idx} ({sources[role]}) is not in the vocabulary (size {vocab_size})")
    if ids["mask"] in (ids["eos"], ids["pad"]):
        raise CheckpointError(f"mask id {ids['mask']} equals the eos/pad id: the gap could never be told from its end")
    return SpecialIds(ids, sources, conflicts)
