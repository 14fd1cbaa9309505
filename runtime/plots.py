"""PNG plots people would rather look at than JSON: the training loss curve and the runtime bench.
matplotlib is imported lazily (an optional dependency: the dev and eval extras carry it)."""
from __future__ import annotations

import json
from pathlib import Path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit("plotting needs matplotlib: pip install -e '.[eval]'") from exc
    return plt


def plot_training(run: Path, out: Path) -> Path:
    """Loss (smoothed) and tokens/s against tokens seen, from RUN/log.jsonl."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    plt = _pyplot()
    tokens = [r["tokens"] / 1e6 for r in rows]
    loss, smooth, ema = [r["loss"] for r in rows], [], None
    for x in loss:
        ema = x if ema is None else 0.9 * ema + 0.1 * x
        smooth.append(ema)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(tokens, loss, alpha=0.25, label="loss")
    a.plot(tokens, smooth, label="EMA 0.9")
    a.set(xlabel="tokens (M)", ylabel="weighted masked-diffusion loss", title="training loss", ylim=(0, max(smooth) * 1.2))
    a.legend()
    b.plot(tokens, [r["tok_s"] for r in rows])
    b.set(xlabel="tokens (M)", ylabel="tokens / s", title="throughput (2 shared CPU cores)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def plot_bench(result: dict, out: Path) -> Path:
    """Median ms per denoising step of each path at each context length (log scale)."""
    plt = _pyplot()
    contexts = sorted({r["context"] for r in result["rows"]})
    paths = list(dict.fromkeys(r["path"] for r in result["rows"]))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / len(paths)
    for i, path in enumerate(paths):
        ms = [next((r["ms_per_step"] for r in result["rows"] if r["context"] == c and r["path"] == path), 0) for c in contexts]
        ax.bar([j + i * width for j in range(len(contexts))], ms, width, label=path)
    ax.set_xticks([j + width * (len(paths) - 1) / 2 for j in range(len(contexts))], [str(c) for c in contexts])
    ax.set(yscale="log", xlabel="context (tokens)", ylabel="ms per step (median)",
           title=f"{Path(result['model']).name} on {result['device']} ({result['date']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out
