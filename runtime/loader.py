"""Checkpoint loader: a local directory, exactly as its authors publish it -> DiffusionLM.

Never runs code from the directory and never unpickles: config is JSON, weights are safetensors
(one file or shards with model.safetensors.index.json), the tokenizer is tokenizer.json or the
files it was built from (runtime/tokenizer_files.py). The family (runtime/models/), the special ids
(runtime/special_ids.py) and the precision (runtime/placement.py) are decided before any weight is
read. Every problem is a CheckpointError that names it: missing file, unknown model_type, missing or
extra tensor, shape mismatch (both shapes), special token not in the vocabulary, a damaged
safetensors file, integer or non-finite weights, a tied head that differs, too little memory.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from runtime.checkpoint_spec import build_spec, token_names
from runtime.models import CheckpointError, family_for
from runtime.models.base import DiffusionLM
from runtime.placement import check_tied_head, choose_dtype, head_name, resolve_device
from runtime.special_ids import Files
from runtime.tokenizer import Tokenizer
from runtime.tokenizer_files import TokenizerFilesError

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
    """tokenizer.json, else vocab.json + merges.txt + tokenizer_config.json (Qwen2-style, as Dream publishes)."""
    root = model_dir(path)
    try:
        return Tokenizer.from_dir(root)
    except TokenizerFilesError as exc:
        raise CheckpointError(str(exc)) from exc
    except Exception as exc:  # tokenizers raises a bare Exception on malformed files
        what = "tokenizer.json" if (root / "tokenizer.json").is_file() else "vocab.json + merges.txt"
        raise CheckpointError(f"{root}: {what} cannot be read as a tokenizer: {exc}") from exc


def read_optional_json(path: Path) -> dict:
    """A JSON file that a directory may lack ({}); a malformed one is still an error."""
    return read_json(path) if path.is_file() else {}


def read_files(root: Path | None, config: dict) -> Files:
    """config.json and the files beside it that name special tokens."""
    if root is None:
        return Files(config)
    return Files(config, read_optional_json(root / "generation_config.json"),
                 read_optional_json(root / "tokenizer_config.json"), read_optional_json(root / "special_tokens_map.json"))


def new_model(config: dict, tokenizer: Tokenizer | None = None, files: Files | None = None) -> DiffusionLM:
    """A freshly initialised model for a config.json-style dict (training, tests)."""
    family = family_for(config, token_names(tokenizer))
    arch = family.build_arch(config)
    model = DiffusionLM(arch, build_spec(files or Files(config), family, arch, tokenizer))
    model.config, model.family = dict(config), family
    return model


@contextmanager
def open_safetensors(file: Path):
    """safe_open, with a damaged file (truncated, a header past the file's end, offsets outside it)
    reported as a CheckpointError naming it. safetensors checks the header against the file size
    before any tensor is read, so nothing large is allocated for a broken file."""
    try:
        with safe_open(str(file), framework="pt") as f:
            yield f
    except SafetensorError as exc:
        raise CheckpointError(f"{file} is not a readable safetensors file ({exc}); re-download it") from exc


def checked_tensor(f, name: str, file: Path) -> torch.Tensor:
    """A weight that is floating point and finite: integer weights or NaN/inf values mean a broken
    or foreign file, which would otherwise load and write garbage."""
    try:
        t = f.get_tensor(name)
    except SafetensorError as exc:
        raise CheckpointError(f"{file.name}: tensor {name} cannot be read ({exc})") from exc
    if not t.is_floating_point():
        raise CheckpointError(f"{file.name}: tensor {name} has dtype {str(t.dtype).replace('torch.', '')}, not a float type")
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise CheckpointError(f"{file.name}: tensor {name} holds {bad} NaN/inf value(s)")
    return t


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
    with open_safetensors(single) as f:
        return {name: single for name in f.keys()}


def _read_tensors(files: dict[str, Path], wanted: dict[str, str], shapes: dict[str, torch.Size],
                  tied_head: str | None = None) -> dict:
    have = {n for n in files if not n.endswith(IGNORED_SUFFIXES)}
    theirs_to_ours = {theirs: ours for ours, theirs in wanted.items()}
    missing = sorted(set(theirs_to_ours) - have)
    if missing:
        raise CheckpointError(f"missing tensor(s): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    extra = sorted(have - set(theirs_to_ours) - {tied_head})  # a tied head may still be saved (checked later)
    if extra:
        raise CheckpointError(f"unexpected tensor(s): {', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''}")
    state = {}
    by_file: dict[Path, list[str]] = {}
    for theirs in theirs_to_ours:
        by_file.setdefault(files[theirs], []).append(theirs)
    for file, names in by_file.items():
        with open_safetensors(file) as f:
            for theirs in names:
                ours = theirs_to_ours[theirs]
                got = tuple(f.get_slice(theirs).get_shape())
                if got != tuple(shapes[ours]):
                    raise CheckpointError(f"shape mismatch for {theirs}: checkpoint {list(got)}, config expects {list(shapes[ours])}")
                state[ours] = checked_tensor(f, theirs, file)
    return state


def load_model(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> DiffusionLM:
    """Load a checkpoint directory; model.tokenizer is its tokenizer, model.path its directory.

    dtype None: the config's torch_dtype on CUDA, fp32 on CPU unless fp32 would not fit in memory
    (then the config's dtype, bf16 for real releases); a model that fits in neither fails here,
    before any weight is read, with the figures (runtime/placement.py)."""
    root = model_dir(path)
    config = read_json(root / "config.json")
    tokenizer = load_tokenizer(root)
    model = new_model_meta(config, tokenizer, read_files(root, config))
    shapes = {name: p.shape for name, p in model.state_dict().items()}
    device = resolve_device(device) if isinstance(device, str) else device
    dtype = choose_dtype(model, config, device, dtype)
    files = _tensor_files(root)
    names = model.family.weight_names(model.arch)
    head = head_name(model.family, model.arch)
    state = _read_tensors(files, names, shapes, tied_head=head if model.arch.tied_head else None)
    if model.arch.tied_head and head in files:
        check_tied_head(files[head], head, names["embed.weight"], state["embed.weight"], model.config, model.family)
    model.load_state_dict(state, strict=False, assign=True)
    if model.arch.tied_head:
        model.head.weight = model.embed.weight
    model = model.to(device=device, dtype=dtype).eval()
    model.tokenizer, model.path = tokenizer, root
    return model


def new_model_meta(config: dict, tokenizer: Tokenizer | None, files: Files | None = None) -> DiffusionLM:
    with torch.device("meta"):  # no memory and no random init for weights about to be replaced
        return new_model(config, tokenizer, files)


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
