"""Parity: the gap_attention Triton kernel vs torch SDPA (odd shapes, GQA, masks, dtypes)."""

from __future__ import annotations

import pytest
import torch

from kernels.gap_attention import gap_attention_reference
from tests.kernels.util import DEVICES, DTYPES, close, gen, randn


def make(b, h, hkv, nq, t, dh, dtype, device, seed=0):
    g = gen(seed)
    q = randn(b, h, nq, dh, g=g, dtype=dtype, device=device)
    k = randn(b, hkv, t, dh, g=g, dtype=dtype, device=device)
    v = randn(b, hkv, t, dh, g=g, dtype=dtype, device=device)
    return q, k, v


def attend(q, k, v, mask=None, **launch):
    from kernels.gap_attention_kernel import gap_attention_triton

    return gap_attention_triton(q, k, v, mask, **launch)


SHAPES = [  # (B, H, Hkv, Nq, T, Dh, block_n)
    (1, 4, 2, 1, 1, 64, 16),  # one query, one key
    (2, 4, 2, 5, 17, 48, 16),  # Dh not a power of two, ragged last key tile
    (1, 6, 1, 37, 130, 64, 32),  # group 6: 222 stacked rows = 4 row blocks, 130 = 4 tiles + 2
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b,h,hkv,nq,t,dh,block_n", SHAPES)
def test_matches_sdpa(device, dtype, b, h, hkv, nq, t, dh, block_n):
    q, k, v = make(b, h, hkv, nq, t, dh, dtype, device)
    out = attend(q, k, v, block_n=block_n)
    assert out.shape == q.shape and out.dtype == dtype
    close(out, gap_attention_reference(q, k, v), dtype, f"{dtype} {(b, h, hkv, nq, t, dh)}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_partly_and_fully_masked_keys(device, dtype):
    b, t = 3, 130
    q, k, v = make(b, 4, 2, 5, t, 48, dtype, device, seed=1)
    mask = torch.rand(b, t, generator=gen(2)) > 0.4  # (B, T) partly masked
    mask[1] = False  # batch row 1: nothing to attend to -> zeros
    mask[2] = False
    mask[2, 129] = True  # batch row 2: only the very last key -> exactly v[..., 129, :]
    mask = mask.to(device)
    out = attend(q, k, v, mask)  # default 64-key tiles: 130 = 2 tiles + 2
    ref = gap_attention_reference(q, k, v, mask)
    assert not torch.isnan(out).any()
    close(out, ref, dtype, "masked")
    assert (out[1] == 0).all()
    close(out[2], v[2, :, 129][:, None, :].repeat_interleave(2, dim=0).expand(4, 5, 48), dtype,
          "single key")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("splits", [1, 3, 50])
def test_any_key_split_count_gives_the_same_output(device, splits):
    q, k, v = make(2, 6, 1, 3, 130, 64, torch.float32, device, seed=3)
    mask = (torch.rand(2, 130, generator=gen(4)) > 0.5).to(device)
    out = attend(q, k, v, mask, block_n=16, num_splits=splits)
    close(out, gap_attention_reference(q, k, v, mask), torch.float32, f"S={splits}")


@pytest.mark.parametrize("device", DEVICES)
def test_strided_cache_views_and_custom_scale(device):
    """k/v as the first T slots of a larger static cache, q a slice of a longer query buffer."""
    q_buf, k_buf, v_buf = make(2, 4, 2, 9, 64, 48, torch.float32, device, seed=5)
    q, k, v = q_buf[:, :, 2:7], k_buf[:, :, :40], v_buf[:, :, :40]  # non-contiguous views
    out = attend(q, k, v, None, block_n=16, scale=0.3)
    ref = gap_attention_reference(q.contiguous(), k.contiguous(), v.contiguous(), None, scale=0.3)
    close(out, ref, torch.float32, "strided")


def test_reference_zeroes_fully_masked_queries():
    q, k, v = make(1, 2, 1, 3, 5, 16, torch.float32, "cpu")
    out = gap_attention_reference(q, k, v, torch.zeros(1, 5, dtype=torch.bool))
    assert (out == 0).all()


def test_shape_errors_are_plain():
    q, k, v = make(1, 3, 2, 1, 4, 16, torch.float32, "cpu")
    with pytest.raises(ValueError, match="multiple of Hkv"):
        gap_attention_reference(q, k, v)
    q, k, v = make(1, 4, 2, 1, 4, 16, torch.float32, "cpu")
    with pytest.raises(ValueError, match="key_mask"):
        gap_attention_reference(q, k, v, torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
@pytest.mark.parametrize("h,hkv,dh", [(14, 2, 64), (28, 4, 128)])  # Qwen2-0.5B, Dream-7B
@pytest.mark.parametrize("t", [512, 4099])
def test_model_shaped_attention_on_gpu(h, hkv, dh, t):
    """Default tiles and automatic key splits, bf16, a cache slice with a padded tail masked off."""
    q, k, v = make(1, h, hkv, 32, t, dh, torch.bfloat16, "cuda", seed=7)
    mask = torch.ones(1, t, dtype=torch.bool, device="cuda")
    mask[:, t - 100:] = False
    out = attend(q, k, v, mask)
    close(out, gap_attention_reference(q, k, v, mask), torch.bfloat16, f"H={h} T={t}")
