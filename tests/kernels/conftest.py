"""Kernel tests: Triton kernels vs their torch references, on CPU under the Triton interpreter.

Triton chooses interpreter-or-compiled when it decorates a function with triton.jit, reading
TRITON_INTERPRET then, and triton.language decorates its own helpers (tl.zeros, ...) when it is
first imported. So the variable must be set before anything imports triton. `kernels` never
imports triton until a kernel first runs, and neither torch nor the runtime imports it, so setting
it here, at conftest import (pytest imports every conftest while collecting, before any test runs),
is early enough even when the whole tests/ tree is collected. If triton was nevertheless imported
earlier, it cannot be re-imported (its C extension refuses), so the CPU kernel tests fail with
an explanation instead of a cryptic interpreter error: run `TRITON_INTERPRET=1 pytest ...` then.

With CUDA present the variable is left alone: the compiled kernels run in the CUDA variants, and the
CPU variants skip (CPU-only CI always has the interpreter).
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

TRITON_TOO_EARLY = False
if not torch.cuda.is_available():
    TRITON_TOO_EARLY = "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1"
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture(autouse=True)
def _triton_imported_in_time(request):
    callspec = getattr(request.node, "callspec", None)
    if TRITON_TOO_EARLY and callspec is not None and callspec.params.get("device") == "cpu":
        pytest.fail("triton was imported before tests/kernels/conftest.py could set "
                    "TRITON_INTERPRET=1; run the tests with TRITON_INTERPRET=1 in the environment")
