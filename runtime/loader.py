"""Checkpoint loader: a local directory (config.json, safetensors, tokenizer.json) -> DiffusionLM.

Never runs code from the directory and never unpickles: config is JSON, weights are safetensors
(one file or shards with model.safetensors.index.json), the tokenizer is tokenizer.json. Every
problem is a CheckpointError that names it: missing file, unknown model_type, missing or extra
tensor, shape mismatch (both shapes), special token not in the vocabulary.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from runtime.models import CheckpointError, family_for
from runtime.models.base import DiffusionLM
from runtime.models.family import EOT_TOKEN_NAMES, EXPAND_TOKEN_NAMES, MASK_TOKEN_NAMES, PAD_TOKEN_NAMES
from runtime.spec import ModelSpec
from runtime.tokenizer import Tokenizer

INDEX = "model.safetensors.index.json"
# Buffers some exporters write that carry no learned state.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from {path.parent}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc


def model_dir(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CheckpointError(f"model directory {root} does not exist or is not a directory")
    return root


def load_tokenizer(path: str | Path) -> Tokenizer:
    file = model_dir(path) / "tokenizer.json"
    if not file.is_file():
        raise CheckpointError(f"tokenizer.json is missing from {file.parent}")
    try:
        return Tokenizer.from_file(file)
    except Exception as exc:  # tokenizers raises a bare Exception on malformed files
        raise CheckpointError(f"{file} cannot be read as a tokenizers tokenizer.json: {exc}") from exc


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def _named_id(tok: Tokenizer | None, names: tuple[str, ...]) -> int | None:
    for name in names if tok is not None else ():
        idx = tok.token_to_id(name)
        if idx is not None:
            return idx
    return None


def build_spec(config: dict, family, vocab_size: int, tok: Tokenizer | None) -> ModelSpec:
    """Special ids from config.json first, the tokenizer's named special tokens second."""
    mask = config.get("mask_token_id", _named_id(tok, MASK_TOKEN_NAMES))
    eos = _first(config.get("eos_token_id")) if config.get("eos_token_id") is not None else _named_id(
        tok, ("<|endoftext|>", "</s>", "<|eos|>")
    )
    pad = config.get("pad_token_id")
    dlm_pad = _named_id(tok, PAD_TOKEN_NAMES[:1])
    if pad is None:
        pad = _named_id(tok, PAD_TOKEN_NAMES) if tok is not None else None
    pad = eos if pad is None else pad
    eot = config.get("eot_token_id", _named_id(tok, EOT_TOKEN_NAMES))
    bos = _first(config.get("bos_token_id"))
    expand = config.get("expand_token_id", _named_id(tok, EXPAND_TOKEN_NAMES))
    ids = {"mask": mask, "eos": eos, "pad": pad, "eot": eot, "bos": bos, "<|dlm_pad|>": dlm_pad, "expand": expand}
    for name in ("mask", "eos"):
        if ids[name] is None:
            raise CheckpointError(f"no {name} token: set {name}_token_id in config.json or add it to tokenizer.json")
    for name, idx in ids.items():
        if idx is None:
            continue
        if not 0 <= idx < vocab_size or (tok is not None and tok.id_to_token(idx) is None):
            raise CheckpointError(f"special token {name} id {idx} is not in the vocabulary (size {vocab_size})")
    if mask in (eos, pad):
        raise CheckpointError(f"mask id {mask} equals the eos/pad id: the gap could never be told from its end")
    return ModelSpec(
        family=family.name,
        mask_id=mask,
        pad_id=pad,
        eos_id=eos,
        eot_id=eot,
        bos_id=bos,
        extra_end_ids=(dlm_pad,) if dlm_pad is not None else (),
        expand_id=expand,
        shifted=bool(config.get("logits_shifted", family.shifted)),
        defaults=dict(config.get("seed_lsp_defaults", {})),
    )


def new_model(config: dict, tokenizer: Tokenizer | None = None) -> DiffusionLM:
    """A freshly initialised model for a config.json-style dict (training, tests)."""
    family = family_for(config)
    arch = family.arch(config)
    model = DiffusionLM(arch, build_spec(config, family, arch.vocab_size, tokenizer))
    model.config, model.family = dict(config), family
    return model


def _tensor_files(root: Path) -> dict[str, Path]:
    """Checkpoint tensor name -> the safetensors file that holds it."""
    if (root / INDEX).is_file():
        weight_map = read_json(root / INDEX).get("weight_map")
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"{INDEX} has no weight_map")
        for shard in set(weight_map.values()):
            if not (root / shard).is_file():
                raise CheckpointError(f"shard {shard} named in {INDEX} is missing")
        return {name: root / shard for name, shard in weight_map.items()}
    single = root / "model.safetensors"
    if not single.is_file():
        found = sorted(p.name for p in root.glob("*.bin")) + sorted(p.name for p in root.glob("*.pt*"))
        hint = f" (found {', '.join(found)}: pickled weights are never loaded; convert to safetensors)" if found else ""
        raise CheckpointError(f"no model.safetensors or {INDEX} in {root}{hint}")
    with safe_open(str(single), framework="pt") as f:
        return {name: single for name in f.keys()}


def _read_tensors(files: dict[str, Path], wanted: dict[str, str], shapes: dict[str, torch.Size]) -> dict:
    have = {n for n in files if not n.endswith(IGNORED_SUFFIXES)}
    theirs_to_ours = {theirs: ours for ours, theirs in wanted.items()}
    missing = sorted(set(theirs_to_ours) - have)
    if missing:
        raise CheckpointError(f"missing tensor(s): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    extra = sorted(have - set(theirs_to_ours) - {"lm_head.weight"})  # a tied head may still be saved
    if extra:
        raise CheckpointError(f"unexpected tensor(s): {', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''}")
    state = {}
    by_file: dict[Path, list[str]] = {}
    for theirs in theirs_to_ours:
        by_file.setdefault(files[theirs], []).append(theirs)
    for file, names in by_file.items():
        with safe_open(str(file), framework="pt") as f:
            for theirs in names:
                ours = theirs_to_ours[theirs]
                got = tuple(f.get_slice(theirs).get_shape())
                if got != tuple(shapes[ours]):
                    raise CheckpointError(f"shape mismatch for {theirs}: checkpoint {list(got)}, config expects {list(shapes[ours])}")
                state[ours] = f.get_tensor(theirs)
    return state


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_dtype(device: torch.device) -> torch.dtype:
    # bf16 on CUDA; fp32 on CPU measured faster than bf16 for small gap steps here (README, bench).
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def load_model(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> DiffusionLM:
    """Load a checkpoint directory; model.tokenizer is its tokenizer, model.path its directory."""
    root = model_dir(path)
    config = read_json(root / "config.json")
    tokenizer = load_tokenizer(root)
    model = new_model_meta(config, tokenizer)
    shapes = {name: p.shape for name, p in model.state_dict().items()}
    state = _read_tensors(_tensor_files(root), model.family.weight_names(model.arch), shapes)
    model.load_state_dict(state, strict=False, assign=True)
    if model.arch.tied_head:
        model.head.weight = model.embed.weight
    device = resolve_device(device) if isinstance(device, str) else device
    model = model.to(device=device, dtype=dtype or default_dtype(device)).eval()
    model.tokenizer, model.path = tokenizer, root
    return model


def new_model_meta(config: dict, tokenizer: Tokenizer | None) -> DiffusionLM:
    with torch.device("meta"):  # no memory and no random init for weights about to be replaced
        return new_model(config, tokenizer)


def save_model(model: DiffusionLM, out_dir: str | Path, tokenizer_file: str | Path | None = None, shards: int = 1) -> Path:
    """Write config.json + safetensors (sharded with an index when shards > 1) [+ tokenizer.json]."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = model.family.weight_names(model.arch)
    state = {names[k]: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k in names}
    (out / "config.json").write_text(json.dumps(model.config, indent=2) + "\n")
    if tokenizer_file is not None:
        (out / "tokenizer.json").write_bytes(Path(tokenizer_file).read_bytes())
    keys = sorted(state)
    if shards <= 1:
        save_file(state, str(out / "model.safetensors"))
        return out
    weight_map = {}
    for i in range(shards):
        part = keys[i::shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k] for k in part}, str(out / fname))
        weight_map.update({k: fname for k in part})
    (out / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
    return out
