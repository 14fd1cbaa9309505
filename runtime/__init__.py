"""seed-lsp runtime: masked-diffusion models, loader, decoding, and the infill engine.

Knows nothing about editors or LSP (see docs/ARCHITECTURE.md for the public API).
"""
from runtime.jobs import CancelToken, InfillJob, InfillResult

__all__ = ["CancelToken", "InfillJob", "InfillResult", "Engine", "load_model", "new_model"]


def __getattr__(name):  # lazy: importing runtime.jobs must not import torch
    if name == "Engine":
        from runtime.engine import Engine

        return Engine
    if name in ("load_model", "new_model"):
        from runtime import loader

        return getattr(loader, name)
    raise AttributeError(name)
