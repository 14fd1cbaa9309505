"""Shared transformer layers for every family: RMSNorm, rotary embeddings, bidirectional
grouped-query attention (optional per-head q/k norm, optional K/V cache rows), SwiGLU MLP.

Attention is bidirectional when serving: a masked-diffusion model looks at both sides of the gap
(training also runs causal rows through a per-query mask, runtime/train/examples.py). A forward may
run on a subset of rows (`rows`) against a KVCache that holds every position's keys/values; the rows'
fresh keys/values are written into the cache first, so the gap attends to itself up to date and to
the context as cached (dual cache).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from runtime.spec import ArchConfig


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * w, computed in fp32 (as the reference checkpoints do)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """positions (B, N) -> cos, sin (B, 1, N, head_dim) for rotate-half rotary embeddings."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    freqs = positions.float()[..., None] * inv_freq  # (B, N, head_dim/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (B, N, head_dim)
    return emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, Dh) rotated by rotate-half rotary embeddings."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class KVCache:
    """Per-layer keys/values of every position of a canvas batch: k, v (B, Hkv, T, Dh) each."""

    def __init__(self, num_layers: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * num_layers
        self.v: list[torch.Tensor | None] = [None] * num_layers

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor, rows: torch.Tensor | None):
        """Write k, v (B, Hkv, N, Dh): whole (rows None) or at rows (B, N) of T; return full K, V."""
        if rows is None:
            self.k[layer], self.v[layer] = k, v
        else:
            idx = rows[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[3])  # (B, Hkv, N, Dh)
            self.k[layer].scatter_(2, idx, k)
            self.v[layer].scatter_(2, idx, v)
        return self.k[layer], self.v[layer]


class Attention(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, kv, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q = nn.Linear(cfg.hidden_size, h * d, bias=cfg.qkv_bias)
        self.k = nn.Linear(cfg.hidden_size, kv * d, bias=cfg.qkv_bias)
        self.v = nn.Linear(cfg.hidden_size, kv * d, bias=cfg.qkv_bias)
        self.o = nn.Linear(h * d, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(d, cfg.rms_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(d, cfg.rms_eps) if cfg.qk_norm else None

    def forward(self, x, cos, sin, key_mask, layer, cache, rows):
        """x (B, N, C) -> (B, N, C). key_mask (B, T) bool, True = a real key; or (B, N, T), a mask per
        query (training's causal rows)."""
        b, n, _ = x.shape
        cfg = self.cfg
        q = self.q(x).view(b, n, cfg.num_heads, cfg.head_dim).transpose(1, 2)  # (B, H, N, Dh)
        k = self.k(x).view(b, n, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)  # (B, Hkv, N, Dh)
        v = self.v(x).view(b, n, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)  # (B, Hkv, N, Dh)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.store(layer, k, v, rows)  # (B, Hkv, T, Dh)
        if key_mask is None:
            mask = None
        else:  # (B, 1, 1, T) keys only, or (B, 1, N, T) per query
            mask = key_mask[:, None, None, :] if key_mask.dim() == 2 else key_mask[:, None]
        out = attend(q, k, v, mask)  # (B, H, N, Dh)
        return self.o(out.transpose(1, 2).reshape(b, n, -1))


def attend(q, k, v, mask):
    """Bidirectional grouped-query attention; q (B, H, N, Dh), k/v (B, Hkv, T, Dh)."""
    per_query = mask is not None and mask.shape[2] > 1  # training's causal rows: never in serving
    if q.is_cuda and not per_query:  # the Triton kernel (kernels/), falling back to its reference inside the dispatcher
        from kernels import gap_attention

        return gap_attention(q, k, v, None if mask is None else mask[:, 0, 0, :])
    b, h, n, d = q.shape
    rep = h // k.shape[1]
    if rep == 1:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    # Stack each kv group's query heads along the query axis instead of repeating K/V: a gap step
    # then never copies the whole cache (which made its cost grow with the context length).
    qg = q.reshape(b, k.shape[1], rep * n, d)  # (B, Hkv, rep*N, Dh); head g*rep+r -> group g
    if per_query:
        mask = mask.repeat(1, 1, rep, 1)  # (B, 1, rep*N, T): stacked row r*N+i is query i
    out = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask)  # (B, Hkv, rep*N, Dh)
    return out.reshape(b, h, n, d)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, key_mask, layer, cache, rows):
        x = x + self.attn(self.attn_norm(x), cos, sin, key_mask, layer, cache, rows)
        return x + self.mlp(self.mlp_norm(x))
