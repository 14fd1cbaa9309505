"""Where and in what precision a checkpoint lives: device, dtype, memory, tied head.

choose_dtype(model on meta, config, device, asked) -> torch.dtype, or CheckpointError before any
weight is read when the model fits in no dtype we would pick (the message has the figures).
check_tied_head(...) refuses a file whose saved head differs from the embeddings while config.json
says they are tied: loading it would silently drop a trained matrix.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from safetensors import safe_open

from runtime.models.family import CheckpointError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
HEADROOM = 1.25  # weights plus activations, cache and the allocator's slack


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_dtype(device: torch.device) -> torch.dtype:
    # bf16 on CUDA; fp32 on CPU measured faster than bf16 for small gap steps here (README, bench).
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def config_dtype(config: dict) -> torch.dtype | None:
    """The checkpoint's own precision: torch_dtype (transformers 4) or dtype (transformers 5)."""
    name = config.get("torch_dtype") or config.get("dtype")
    if name is None:
        return None
    if str(name).replace("torch.", "") not in DTYPES:
        raise CheckpointError(f"config.json torch_dtype {name!r} is not one of {', '.join(DTYPES)}")
    return DTYPES[str(name).replace("torch.", "")]


def available_bytes(device: torch.device) -> int:
    """Memory a model may take now: free GPU memory, or MemAvailable of /proc/meminfo."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parameter_count(model) -> int:
    seen, total = set(), 0
    for p in model.parameters():  # a tied head is one tensor, counted once
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def choose_dtype(model, config: dict, device: torch.device, asked: torch.dtype | None,
                 available: int | None = None) -> torch.dtype:
    """The dtype to load in (see the module docstring); `available` overrides the measurement (tests)."""
    own = config_dtype(config)
    if asked is not None:
        choices = [asked]
    elif device.type == "cuda":
        choices = [own or torch.bfloat16]
    else:
        choices = [torch.float32] + ([own] if own not in (None, torch.float32) else [torch.bfloat16])
    params = parameter_count(model)
    free = available_bytes(device) if available is None else available
    for dtype in choices:
        if params * dtype.itemsize * HEADROOM <= free:
            return dtype
    need = ", ".join(f"{d.__repr__().replace('torch.', '')} {params * d.itemsize / 2**30:.1f} GiB" for d in choices)
    raise CheckpointError(
        f"{params / 1e9:.2f} B parameters do not fit on {device}: {free / 2**30:.1f} GiB available, weights need {need} "
        f"(+{int((HEADROOM - 1) * 100)} % for activations and cache). Use a GPU, a machine with more memory, or a smaller model."
    )


def head_name(family, arch) -> str:
    """The checkpoint name an untied head would have (a tied checkpoint may still save it)."""
    return family.weight_names(dataclasses.replace(arch, tied_head=False))["head.weight"]


def check_tied_head(file: Path, head: str, embed: str, embed_weight: torch.Tensor, config: dict, family) -> None:
    with safe_open(str(file), framework="pt") as f:
        saved = f.get_tensor(head)
    if saved.shape == embed_weight.shape and torch.equal(saved, embed_weight):
        return
    said = f"{family.tie_key}={config[family.tie_key]}" if family.tie_key in config else \
        f"no {family.tie_key} key, and {family.name}'s default is tied"
    diff = (saved.float() - embed_weight.float()).abs().max().item() if saved.shape == embed_weight.shape else None
    detail = f"max abs difference {diff:.3g}" if diff is not None else f"shapes {list(saved.shape)} vs {list(embed_weight.shape)}"
    raise CheckpointError(
        f"config.json says the head is tied ({said}) but {head} differs from {embed} ({detail}): "
        f"loading would silently drop a trained head. Fix {family.tie_key} in config.json."
    )
