"""Training loop for the embedded model: masked-diffusion loss on CPU (or GPU), resumable.

State in RUN_DIR: model.safetensors (fp32 weights), optim.pt (AdamW state, loaded with
weights_only=True), state.json (step, tokens seen, elapsed, schedule), config.json, tokenizer.json,
log.jsonl (one line per log interval). A run resumes from RUN_DIR after any interruption; a fresh
optimizer is used if optim.pt is missing or unreadable.

Loss: cross-entropy on loss positions only (the head runs on those rows alone), weighted by the
example builder's per-token weights (1/t for masked diffusion), divided by B * T (the ELBO estimate).
With shifted logits (TrainConfig.shifted, the default since session 3) output i predicts token i+1, as
in Dream: then causal rows (p_ar) are next-token training on the same weights, and a masked token at
i is predicted by output i-1 (position 0 never is: a window's first token has nothing before it).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from runtime.loader import new_model
from runtime.tokenizer import Tokenizer


@dataclass
class TrainConfig:
    data: str = "data"  # holds tokens/train.bin, tokens/heldout.bin, tokenizer.json
    run: str = "runs/embedded"
    hidden: int = 256
    layers: int = 6
    heads: int = 8
    kv_heads: int = 4
    intermediate: int = 768
    seq_len: int = 256
    batch: int = 16
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 300
    total_tokens: int = 400_000_000  # the cosine schedule's horizon (across sessions)
    weight_decay: float = 0.05
    p_infill: float = 0.7
    p_multi: float = 0.5  # share of the infill rows with several gaps (more fills per forward)
    p_ar: float = 0.5  # share of causal next-token rows (needs shifted): every position teaches
    p_ltr: float = 0.5  # share of infill rows masked left to right (the canvas ltr decoding builds)
    functions: float = 0.0  # share of rows drawn from data/tokens/functions-train.bin (runtime/train/functions.py)
    shifted: bool = True  # output i predicts token i+1 (Dream's convention); False: output i, token i
    minutes: float = 60.0  # wall-clock budget of this invocation
    save_every_min: float = 5.0
    log_every: int = 25
    threads: int = 2
    bf16: bool = True
    seed: int = 0
    init_from: str = ""  # a checkpoint dir (e.g. runtime/embedded) to start a new run from
    compile: bool = False  # torch.compile the training forward (CPU: ~1.7x tokens/s after a ~1 min compile)


def model_config(cfg: TrainConfig, tok: Tokenizer) -> dict:
    """config.json of the embedded model: Qwen2 weight names, shifted logits or not, tied head."""
    ids = {name: tok.token_to_id(t) for name, t in (("mask", "<|mask|>"), ("pad", "<|pad|>"), ("eos", "<|endoftext|>"))}
    return {
        "model_type": "qwen2", "architectures": ["SeedDiffusionLM"], "logits_shifted": cfg.shifted,
        "vocab_size": tok.vocab_size, "hidden_size": cfg.hidden, "intermediate_size": cfg.intermediate,
        "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads, "num_key_value_heads": cfg.kv_heads,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "max_position_embeddings": 4096,
        "mask_token_id": ids["mask"], "pad_token_id": ids["pad"], "eos_token_id": ids["eos"],
        # Trained on seq_len windows: serve with that much context around a gap of up to 64 tokens.
        "seed_lsp_defaults": {"max_context": cfg.seq_len - 64,
                              # "auto" decoding for this model: left to right when trained with causal rows
                              **({"strategy": "ltr"} if cfg.shifted and cfg.p_ar > 0 else {})},
    }


def lr_at(cfg: TrainConfig, step: int, tokens: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(tokens / cfg.total_tokens, 1.0)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


def diffusion_loss(model, batch: dict, shifted: bool = False, hidden=None) -> torch.Tensor:
    """Weighted CE on loss positions; the head runs only on those rows. shifted: output i-1 predicts
    token i; rows with batch["causal"] then attend causally (next-token rows). hidden: a stand-in for
    model.hidden (the trainer's compiled one)."""
    ids, targets, weights, sel = batch["input_ids"], batch["targets"], batch["weights"], batch["loss_mask"]
    causal = batch.get("causal")
    attn = None
    if causal is not None and bool(causal.any()):
        if not shifted:
            raise ValueError("causal rows need shifted logits (output i predicts token i+1)")
        t = ids.shape[1]
        lower = torch.ones(t, t, dtype=torch.bool).tril()  # (T, T): query i sees keys 0..i
        attn = torch.where(causal[:, None, None], lower, torch.ones_like(lower))  # (B, T, T)
    h = (hidden or model.hidden)(ids, key_mask=attn)  # (B, T, C)
    if shifted:
        h, targets, weights, sel = h[:, :-1], targets[:, 1:], weights[:, 1:], sel[:, 1:]
    logits = model.head_logits(h[sel])  # (N, V)
    ce = F.cross_entropy(logits, targets[sel], reduction="none")  # (N,)
    return (ce * weights[sel]).sum() / sel.numel()  # the ELBO estimate: per canvas position


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        from runtime.train.examples import sample_batch  # the data side (corpus/tokenizer owner)

        self.sample_batch = sample_batch
        self.cfg = cfg
        self.run = Path(cfg.run)
        self.run.mkdir(parents=True, exist_ok=True)
        data = Path(cfg.data)
        self.tok = Tokenizer.from_file(data / "tokenizer.json")
        self.train_tokens = np.memmap(data / "tokens" / "train.bin", dtype=np.uint16, mode="r")
        self.heldout_tokens = np.memmap(data / "tokens" / "heldout.bin", dtype=np.uint16, mode="r")
        fn = {split: data / "tokens" / f"functions-{split}.bin" for split in ("train", "heldout")}
        if cfg.functions > 0 and not fn["train"].is_file():
            raise FileNotFoundError(f"--functions {cfg.functions} needs {fn['train']} (python -m runtime.train.functions)")
        self.fn_tokens = {k: np.memmap(v, dtype=np.uint16, mode="r") for k, v in fn.items() if v.is_file()}
        self.config = model_config(cfg, self.tok)
        torch.manual_seed(cfg.seed)
        self.model = new_model(self.config, self.tok)
        # Compiled for the training batches only (fixed shapes): the probe's serving loop calls
        # model.hidden with ever-changing shapes and would recompile each time.
        self.hidden = torch.compile(self.model.hidden, dynamic=False) if cfg.compile else self.model.hidden
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
        self.state = {"step": 0, "tokens": 0, "elapsed_s": 0.0}
        self.history: list[dict] = []  # one entry per `train run` invocation (provenance of the weights)
        self._resume()
        self._start_tokens = self.state["tokens"]
        self.ids = dict(newline_id=self.tok.token_to_id("\u010a"), mask_id=self.config["mask_token_id"],
                        pad_id=self.config["pad_token_id"], eos_id=self.config["eos_token_id"])
        self.rng = np.random.default_rng(cfg.seed + self.state["step"])  # a resumed run sees new batches

    def _resume(self) -> None:
        weights = self.run / "model.safetensors"
        if not weights.is_file():
            if self.cfg.init_from:  # e.g. the shipped model on a machine whose runs/ is gone
                from runtime.loader import load_model

                self.model.load_state_dict(load_model(self.cfg.init_from, dtype=torch.float32).state_dict())
                print(f"initialised from {self.cfg.init_from}")
            return
        self.model.load_state_dict(load_file(str(weights)), strict=False)
        self.model.head.weight = self.model.embed.weight
        self.state = json.loads((self.run / "state.json").read_text())
        self.history = self.state.pop("history", [])
        try:
            self.opt.load_state_dict(torch.load(self.run / "optim.pt", weights_only=True))
        except Exception as exc:  # a fresh optimizer on resume is fine (README)
            print(f"resume: fresh optimizer ({exc.__class__.__name__})")

    def save(self) -> None:
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items() if k != "head.weight"}
        save_file(state, str(self.run / "model.safetensors.tmp"))
        (self.run / "model.safetensors.tmp").replace(self.run / "model.safetensors")
        torch.save(self.opt.state_dict(), self.run / "optim.pt.tmp")
        (self.run / "optim.pt.tmp").replace(self.run / "optim.pt")
        (self.run / "state.json").write_text(json.dumps(
            self.state | {"train_config": asdict(self.cfg), "history": self.history + [self.invocation()]}, indent=1))
        (self.run / "config.json").write_text(json.dumps(self.config, indent=2))
        (self.run / "tokenizer.json").write_bytes((Path(self.cfg.data) / "tokenizer.json").read_bytes())

    def invocation(self) -> dict:
        """This `train run`: the tokens it started and ended at and its settings that differ from the
        defaults (with the defaults, enough to rerun it)."""
        defaults = asdict(TrainConfig())
        changed = {k: v for k, v in asdict(self.cfg).items() if v != defaults[k] and k not in ("data", "run")}
        return {"from_tokens": self._start_tokens, "to_tokens": self.state["tokens"], "settings": changed,
                "date": time.strftime("%Y-%m-%d", time.gmtime())}

    def batch(self, tokens, rng, causal: bool = True, n: int | None = None) -> dict:
        """causal=False: the held-out measure's rows (no causal rows, independent masking only), the
        same whatever p_ar and p_ltr a run trains with."""
        p_ar = self.cfg.p_ar if self.cfg.shifted and causal else 0.0
        p_ltr = self.cfg.p_ltr if causal else 0.0
        b = self.sample_batch(tokens, n or self.cfg.batch, self.cfg.seq_len, rng, p_infill=self.cfg.p_infill,
                              p_multi=self.cfg.p_multi, p_ar=p_ar, p_ltr=p_ltr, **self.ids)
        return {k: torch.as_tensor(v) for k, v in b.items()}

    def train_batch(self) -> dict:
        """cfg.batch rows; a Binomial(batch, cfg.functions) share of them from the function stream."""
        n_fn = int(self.rng.binomial(self.cfg.batch, self.cfg.functions)) if self.cfg.functions > 0 else 0
        parts = [self.batch(t, self.rng, n=n) for t, n in ((self.train_tokens, self.cfg.batch - n_fn),
                                                            (self.fn_tokens.get("train"), n_fn)) if n > 0]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def evaluate(self) -> None:
        """Held-out losses (the main stream; the function stream when built) and the line probe."""
        self.state["heldout_loss"] = self.heldout_loss()
        if "heldout" in self.fn_tokens:
            self.state["heldout_fn_loss"] = self.heldout_loss(tokens=self.fn_tokens["heldout"])
        self.probe()

    def probe(self) -> None:
        """Held-out whole-line fills (runtime/train/probe.py), into the state and the log."""
        from runtime.train.probe import line_probe, stop_probe

        result = line_probe(self.model, self.tok, self.heldout_tokens, n=64, max_context=self.cfg.seq_len - 64)
        result |= stop_probe(self.model, self.heldout_tokens, self.ids, seq_len=self.cfg.seq_len)
        self.state.update(result)
        with open(self.run / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.state["step"], "tokens": self.state["tokens"], **result}) + "\n")

    @torch.no_grad()
    def heldout_loss(self, n: int = 4, tokens=None) -> float:
        """Masked rows only (no causal rows): the same measure whatever p_ar a run trains with."""
        rng = np.random.default_rng(1234)  # the same held-out batches every time
        tokens = self.heldout_tokens if tokens is None else tokens
        self.model.eval()
        losses = [float(self._loss(self.batch(tokens, rng, causal=False))) for _ in range(n)]
        self.model.train()
        return sum(losses) / n

    def _loss(self, batch) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16):
            return diffusion_loss(self.model, batch, shifted=self.cfg.shifted, hidden=self.hidden)

    def train(self) -> dict:
        cfg, st = self.cfg, self.state
        torch.set_num_threads(cfg.threads)
        self.model.train()
        start, last_save = time.time(), time.time()
        bar = tqdm(total=int(cfg.minutes * 60), unit="s", desc="train", mininterval=5, smoothing=0.05)
        window_tokens, window_t = 0, time.time()
        while time.time() - start < cfg.minutes * 60:
            for group in self.opt.param_groups:
                group["lr"] = lr_at(cfg, st["step"], st["tokens"])
            batch = self.train_batch()
            loss = self._loss(batch)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            st["step"] += 1
            n_tok = cfg.batch * cfg.seq_len
            st["tokens"] += n_tok
            window_tokens += n_tok
            if st["step"] % cfg.log_every == 0:
                rate = window_tokens / max(time.time() - window_t, 1e-6)
                window_tokens, window_t = 0, time.time()
                row = {"step": st["step"], "tokens": st["tokens"], "loss": float(loss.detach()), "lr": group["lr"], "tok_s": rate}
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", tok_s=f"{rate:.0f}", tokens=f"{st['tokens'] / 1e6:.1f}M")
                with open(self.run / "log.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
            bar.n = int(time.time() - start)
            bar.refresh() if st["step"] % cfg.log_every == 0 else None
            if time.time() - last_save > cfg.save_every_min * 60:
                st["elapsed_s"] += time.time() - last_save
                self.evaluate()
                self.save()
                last_save = time.time()
        st["elapsed_s"] += time.time() - last_save
        self.evaluate()
        self.save()
        bar.close()
        return st
