"""Kernel tests: Triton kernels vs their torch references, on CPU under the Triton interpreter.

triton.jit decides interpreter-or-compiled when it decorates a kernel, reading TRITON_INTERPRET
then. Our kernel modules are only imported on first kernel use, so setting the variable here, at
conftest import (before any kernel test runs), is enough even if torch or triton were imported
earlier by other test directories. If a kernel module was nevertheless imported before this point
(something forced the triton mode on import), it is reloaded so its kernels are re-decorated.

With CUDA present the variable is left alone: the compiled kernels run on the GPU variants, and the
CPU variants skip (they need the interpreter, which CPU-only CI always has).
"""

from __future__ import annotations

import importlib
import os
import sys

import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
    for _name in ("kernels.gap_head_kernel", "kernels.gap_attention_kernel"):
        if _name in sys.modules:
            importlib.reload(sys.modules[_name])
