"""`seed-lsp bench runtime|infill|lsp|soak|gpu ...`: dispatch to the runtime, whole-infill and LSP benchmarks,
the soak (two servers on one daemon for minutes) and the checks to run on a lent GPU."""
from __future__ import annotations

import importlib

BENCHES = {"runtime": "runtime.bench", "infill": "runtime.bench_infill", "lsp": "seed_lsp.bench_lsp",
           "soak": "seed_lsp.bench_soak", "gpu": "runtime.bench_gpu"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHES:
        print(f"usage: seed-lsp bench {{{'|'.join(BENCHES)}}} [--help]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return int(importlib.import_module(BENCHES[argv[0]]).main(argv[1:]) or 0)
