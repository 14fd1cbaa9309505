"""Choose the Triton kernel or the plain-torch reference at run time.

Contract:
- mode() is "auto", "reference" or "triton": the value forced by set_mode()/forced() if any, else
  the environment variable SEED_LSP_KERNELS (default "auto"); anything else raises ValueError.
- use_kernel(*tensors) answers whether an op should run its Triton kernel on these tensors:
    reference -> never;
    auto      -> when every tensor is on CUDA and triton imports;
    triton    -> always; raises RuntimeError when triton is missing, or when a tensor is on the CPU
                 and the Triton interpreter is off (TRITON_INTERPRET=1 must be in the environment
                 before triton is first imported: triton.jit reads it when it decorates, and
                 triton.language decorates its own helpers at import).
- run_op(name, kernel, reference, *tensors) calls one of the two zero-argument callables. In auto
  mode a kernel that raises (e.g. triton cannot compile for this GPU; ValueError, the callers'
  shape errors, excepted) is reported once with a
  warning, that op falls back to its reference for the rest of the process, and status() lists it;
  in triton mode the error propagates.
- Nothing here imports triton: the kernel modules (gap_head_kernel, gap_attention_kernel) import it
  lazily, on first kernel use, so importing or calling `kernels` on CPU never fixes triton's
  interpreter/compiled choice behind a test's back.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

MODES = ("auto", "reference", "triton")
ENV_VAR = "SEED_LSP_KERNELS"

_forced: str | None = None
_broken: dict[str, str] = {}  # op name -> the error that made auto mode give up its kernel
T = TypeVar("T")


def _check(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"kernel mode must be one of {MODES}, got {mode!r}")
    return mode


def mode() -> str:
    """The mode in force: set_mode() wins over $SEED_LSP_KERNELS, which wins over "auto"."""
    if _forced is not None:
        return _forced
    return _check(os.environ.get(ENV_VAR, "auto").strip().lower() or "auto")


def set_mode(new: str | None) -> None:
    """Force a mode for this process (tests, benches); None returns to the environment's choice."""
    global _forced
    _forced = None if new is None else _check(new)


@contextmanager
def forced(new: str) -> Iterator[None]:
    """`with forced("triton"): ...` runs the block in that mode and restores the previous one."""
    global _forced
    before = _forced
    set_mode(new)
    try:
        yield
    finally:
        _forced = before


@functools.cache
def triton_available() -> bool:
    """True when the triton package is installed. Found without importing it: importing triton fixes
    its interpreter/compiled mode for the process (see module docstring); an install that is
    present but broken fails at the kernel's import, which run_op's auto mode survives."""
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """True when TRITON_INTERPRET=1 is set: kernels decorated from now on run on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


def use_kernel(*tensors: torch.Tensor) -> bool:
    """Whether the op called with these tensors should take its Triton kernel path."""
    chosen = mode()
    if chosen == "reference":
        return False
    on_cuda = all(t.is_cuda for t in tensors)
    if chosen == "auto":
        return on_cuda and triton_available()
    if not triton_available():
        raise RuntimeError(f"{ENV_VAR}=triton but triton is not installed")
    if not on_cuda and not interpreter_enabled():
        raise RuntimeError(
            f"{ENV_VAR}=triton on CPU tensors needs TRITON_INTERPRET=1 set before triton is first "
            "imported (the Triton interpreter); use CUDA tensors or the reference mode")
    return True


def run_op(name: str, kernel: Callable[[], T], reference: Callable[[], T], *tensors: torch.Tensor) -> T:
    """Run op `name` through its kernel or its reference, as use_kernel(*tensors) decides."""
    if (mode() == "auto" and name in _broken) or not use_kernel(*tensors):
        return reference()
    if mode() == "triton":
        return kernel()
    try:
        return kernel()
    except ValueError:  # bad shapes/dtypes from the caller: the reference would refuse them too
        raise
    except Exception as err:  # auto mode: a kernel failure must not take the editor's server down
        _broken[name] = f"{type(err).__name__}: {err}"
        warnings.warn(f"kernels: {name} Triton kernel failed, using the torch reference from now on "
                      f"({_broken[name]})", RuntimeWarning, stacklevel=2)
        return reference()


def status() -> dict:
    """What the dispatcher would do: for logs, stats and bench reports."""
    return {"mode": mode(), "triton": triton_available(), "interpreter": interpreter_enabled(),
            "cuda": torch.cuda.is_available(), "fallbacks": dict(_broken)}
