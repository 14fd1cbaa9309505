"""Triton kernels for the GPU hot step, each beside its plain-torch reference, chosen at run time.

    from kernels import gap_head, gap_attention, GapHeadOut
    from kernels.dispatch import forced, set_mode, mode      # "auto" | "reference" | "triton"

Importing this package never imports triton (the kernel modules load on first kernel use), and
kernels never imports runtime.
"""

from kernels.dispatch import forced, mode, set_mode, status, use_kernel
from kernels.gap_attention import gap_attention, gap_attention_reference
from kernels.gap_head import GapHeadOut, gap_head, gap_head_reference, rms_norm

__all__ = [
    "GapHeadOut", "forced", "gap_attention", "gap_attention_reference", "gap_head",
    "gap_head_reference", "mode", "rms_norm", "set_mode", "status", "use_kernel",
]
