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
    """Loss (smoothed) and tokens/s against tokens seen, from RUN/log.jsonl; with a third panel for
    the held-out probes (runtime/train/probe.py) when the log has their rows."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    probes = [r for r in rows if "probe_exact" in r]
    rows = [r for r in rows if "loss" in r]
    plt = _pyplot()
    tokens = [r["tokens"] / 1e6 for r in rows]
    loss, smooth, ema = [r["loss"] for r in rows], [], None
    for x in loss:
        ema = x if ema is None else 0.9 * ema + 0.1 * x
        smooth.append(ema)
    fig, axes = plt.subplots(1, 3 if probes else 2, figsize=(15 if probes else 10, 3.6))
    a, b = axes[0], axes[1]
    a.plot(tokens, loss, alpha=0.25, label="loss")
    a.plot(tokens, smooth, label="EMA 0.9")
    a.set(xlabel="tokens (M)", ylabel="weighted masked-diffusion loss", title="training loss", ylim=(0, max(smooth) * 1.2))
    a.legend()
    b.plot(tokens, [r["tok_s"] for r in rows])
    b.set(xlabel="tokens (M)", ylabel="tokens / s", title="throughput (2 shared CPU cores)")
    if probes:
        c = axes[2]
        c.plot([r["tokens"] / 1e6 for r in probes], [r["probe_exact"] for r in probes], marker="o", label="lines exact")
        stops = [r for r in probes if "probe_stop" in r]
        if stops:  # logged since session 4: does the model end a fill whose middle is written?
            c.plot([r["tokens"] / 1e6 for r in stops], [100 * r["probe_stop"] for r in stops], marker="s",
                   label="p(pad) after a whole middle")
        c.set(xlabel="tokens (M)", ylabel="%", title="held-out probes")
        c.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def plot_bench(result: dict, out: Path) -> Path:
    """Two panels against context length (log-log), one line per path: the median ms of a
    denoising step after the first, and the first step (the cached path's prefill, the reuse path's
    edit window), with the roofline of a gap step as a dashed line."""
    plt = _pyplot()
    rows = result["rows"]
    contexts = sorted({r["context"] for r in rows})
    paths = list(dict.fromkeys(r["path"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in ((axes[0], "ms_per_step", "later steps (median)"), (axes[1], "first_step_ms", "first step")):
        for path in paths:
            pts = [(r["context"], r[key]) for r in rows if r["path"] == path]
            ax.plot(*zip(*pts), marker="o", label=path)
        roof = [(c, next(r["roofline_ms"] for r in rows if r["context"] == c)) for c in contexts if any("roofline_ms" in r for r in rows)]
        if roof:
            ax.plot(*zip(*roof), "k--", lw=1, label="roofline (gap step)")
        ax.set(xscale="log", yscale="log", xlabel="context (tokens)", ylabel="ms", title=title)
        ax.minorticks_off()  # the log axis would label its minor ticks over the contexts
        ax.set_xticks(contexts, [str(c) for c in contexts])
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{Path(result['model']).name} on {result['device']}, {result.get('threads', '?')} thread(s) ({result['date']})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out
