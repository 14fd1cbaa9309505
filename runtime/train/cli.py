"""`seed-lsp train ...`: train (resumable) and export the embedded model.

  seed-lsp train run    [--data data] [--run runs/embedded] [--minutes 60] [--FIELD VALUE ...]
  seed-lsp train export [--run runs/embedded] [--out runtime/embedded] [--dtype bf16|fp32]
  seed-lsp train plot   [--run runs/embedded] [--out docs/img/train-loss.png]
  seed-lsp train probe  [--model DIR] [--n 32]     held-out whole lines filled exactly, and the
                                                  first-pad probability after a whole middle (JSON)

Every TrainConfig field is a flag (--seq-len 256, --batch 16, --no-bf16 ...). Building the corpus
and the tokenizer are their own modules (docs/training-data.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import torch


def _run_parser() -> argparse.ArgumentParser:
    from runtime.train.loop import TrainConfig

    p = argparse.ArgumentParser(prog="seed-lsp train run", description="train the embedded model (resumes RUN_DIR)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            caster = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            p.add_argument(flag, dest=f.name, type=caster, default=f.default)
    return p


def export(run: Path, out: Path, dtype: str = "bf16") -> Path:
    """Write the shipped checkpoint: config.json, tokenizer.json, model.safetensors (bf16 by default)."""
    from safetensors.torch import load_file, save_file

    from runtime.loader import new_model
    from runtime.tokenizer import Tokenizer

    config = json.loads((run / "config.json").read_text())
    meta = json.loads((run / "state.json").read_text())
    seq_len = meta.get("train_config", {}).get("seq_len")
    if seq_len:  # the context the model was trained on bounds the context it is served with
        config.setdefault("seed_lsp_defaults", {})["max_context"] = seq_len - 64
        config["seed_lsp_defaults"].pop("tau", None)
    model = new_model(config, Tokenizer.from_file(run / "tokenizer.json"))
    model.load_state_dict(load_file(str(run / "model.safetensors")), strict=False)
    names = model.family.weight_names(model.arch)
    cast = torch.bfloat16 if dtype == "bf16" else torch.float32
    state = {names[k]: v.detach().to(cast).contiguous() for k, v in model.state_dict().items() if k in names}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(run / "tokenizer.json", out / "tokenizer.json")
    keep = ("step", "tokens", "elapsed_s", "heldout_loss", "heldout_fn_loss", "probe_stop", "history")
    (out / "training.json").write_text(json.dumps({k: meta[k] for k in keep if k in meta}, indent=1))
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from runtime.train.loop import TrainConfig, Trainer

        cfg = TrainConfig(**vars(_run_parser().parse_args(rest)))
        state = Trainer(cfg).train()
        print(json.dumps({k: v for k, v in state.items() if k != "train_config"}))
        return 0
    if cmd == "export":
        p = argparse.ArgumentParser(prog="seed-lsp train export")
        p.add_argument("--run", default="runs/embedded", type=Path)
        p.add_argument("--out", default=Path(__file__).resolve().parents[1] / "embedded", type=Path)
        p.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
        a = p.parse_args(rest)
        print(export(a.run, a.out, a.dtype))
        return 0
    if cmd == "plot":
        from runtime.plots import plot_training

        p = argparse.ArgumentParser(prog="seed-lsp train plot")
        p.add_argument("--run", default="runs/embedded", type=Path)
        p.add_argument("--out", default=Path("docs/img/train-loss.png"), type=Path)
        a = p.parse_args(rest)
        print(plot_training(a.run, a.out))
        return 0
    if cmd == "probe":
        import numpy as np

        from runtime.embedded import embedded_model_dir
        from runtime.loader import load_model
        from runtime.train.probe import line_probe, stop_probe

        p = argparse.ArgumentParser(prog="seed-lsp train probe")
        p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
        p.add_argument("--data", default=Path("data"), type=Path)
        p.add_argument("--n", type=int, default=32)
        a = p.parse_args(rest)
        model = load_model(a.model or embedded_model_dir())
        tokens = np.memmap(a.data / "tokens" / "heldout.bin", dtype=np.uint16, mode="r")
        max_context = int(model.spec.defaults.get("max_context", 192))
        ids = dict(newline_id=model.tokenizer.token_to_id("\u010a"), mask_id=model.spec.mask_id,
                   pad_id=model.spec.pad_id, eos_id=model.spec.eos_id)
        print(json.dumps(line_probe(model, model.tokenizer, tokens, n=a.n, max_context=max_context)
                         | stop_probe(model, tokens, ids)))
        return 0
    print(f"unknown train command {cmd!r}\n{__doc__}")
    return 2
