"""`seed-lsp` command line: one subcommand per job, each implemented by a module's main(argv).

The table maps a subcommand to "module:function"; modules are imported only when their subcommand
runs, so `seed-lsp serve` never pays for training or eval imports.
"""
from __future__ import annotations

import importlib
import os
import sys

COMMANDS = {
    "complete": ("seed_lsp.complete_cli:main", "print the infill at FILE:LINE:COL"),
    "serve": ("seed_lsp.serve:main", "run the language server (stdio)"),
    "daemon": ("seed_lsp.daemon.cli:main", "run / query / stop the workstation daemon"),
    "train": ("runtime.train.cli:main", "train the embedded model (resumable)"),
    "eval": ("runtime.eval.cli:main", "evaluate infilling (humaneval single-line | multi-line | random-span; repo)"),
    "bench": ("seed_lsp.bench_cli:main", "benchmarks: runtime | lsp"),
}


# Latency-bound commands: OpenMP threads that spin while waiting for work steal the cores from
# the editor and everything else, and collapse when the machine is busy (measured on 2 shared cores
# beside a training job: a whole line infill 103 ms with spinning threads, 58 ms passive). libgomp
# reads this when torch loads it, so it is set before any command imports torch; a user's value wins.
PASSIVE_OPENMP = ("serve", "daemon", "complete")


def usage() -> str:
    lines = ["usage: seed-lsp COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from importlib.metadata import version

        print(version("seed-lsp"))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"seed-lsp: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if name in PASSIVE_OPENMP:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    module_name, func_name = COMMANDS[name][0].split(":")
    if name == "eval" and rest[:1] == ["repo"]:  # repository-level eval: needs the workspace (seed_lsp)
        module_name, func_name, rest = "seed_lsp.evalrepo.cli", "main", rest[1:]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
