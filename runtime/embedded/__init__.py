"""The embedded model shipped inside the package (config.json, model.safetensors, tokenizer.json)."""
from __future__ import annotations

from pathlib import Path

from runtime.models import CheckpointError

HERE = Path(__file__).parent


def embedded_model_dir() -> Path:
    if not (HERE / "model.safetensors").is_file():
        raise CheckpointError(
            f"the embedded model is not in this installation ({HERE} has no model.safetensors); "
            "pass a model directory (--model DIR / Engine.load(path=...))"
        )
    return HERE
