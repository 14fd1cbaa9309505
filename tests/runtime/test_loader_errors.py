"""Every broken model directory gives a CheckpointError that names the problem."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from runtime import load_model
from runtime.models import CheckpointError


@pytest.fixture()
def model_dir(tiny_model_dir, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(tiny_model_dir, dst)
    return dst


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def _edit_tensors(d, fn):
    state = load_file(str(d / "model.safetensors"))
    fn(state)
    save_file(state, str(d / "model.safetensors"))


def test_loads_when_intact(model_dir):
    assert load_model(model_dir).spec.mask_id == 0


def test_missing_dir(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_missing_file(model_dir, name):
    (model_dir / name).unlink()
    with pytest.raises(CheckpointError, match=name):
        load_model(model_dir)


def test_bad_json(model_dir):
    (model_dir / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(model_dir)


def test_pickled_weights_are_refused(model_dir):
    (model_dir / "model.safetensors").unlink()
    (model_dir / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="pickled weights are never loaded"):
        load_model(model_dir)


def test_unknown_model_type(model_dir):
    _edit_config(model_dir, model_type="gpt2")
    with pytest.raises(CheckpointError, match="unknown model_type 'gpt2'"):
        load_model(model_dir)


def test_block_causal_checkpoint_is_refused_plainly(model_dir):
    _edit_config(model_dir, model_type="sdar")
    with pytest.raises(CheckpointError, match="cannot infill"):
        load_model(model_dir)


def test_missing_tensor_named(model_dir):
    _edit_tensors(model_dir, lambda s: s.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensor\(s\): model.layers.1.mlp.up_proj.weight"):
        load_model(model_dir)


def test_extra_tensor_named(model_dir):
    _edit_tensors(model_dir, lambda s: s.update({"model.layers.9.surprise": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensor\(s\): model.layers.9.surprise"):
        load_model(model_dir)


def test_shape_mismatch_named_with_both_shapes(model_dir):
    _edit_tensors(model_dir, lambda s: s.update({"model.norm.weight": torch.ones(31)}))
    with pytest.raises(CheckpointError, match=r"model.norm.weight: checkpoint \[31\], config expects \[32\]"):
        load_model(model_dir)


def test_special_token_outside_vocab(model_dir):
    _edit_config(model_dir, mask_token_id=99999)
    with pytest.raises(CheckpointError, match=r"special token mask id 99999 \(config.json mask_token_id\) is not in the vocabulary"):
        load_model(model_dir)


def test_missing_shard(tiny_model_dir, tmp_path):
    from runtime.loader import save_model

    m = load_model(tiny_model_dir)
    save_model(m, tmp_path / "sharded", tiny_model_dir / "tokenizer.json", shards=2)
    (tmp_path / "sharded" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="shard model-00002-of-00002.safetensors"):
        load_model(tmp_path / "sharded")


def _header(data: bytes) -> tuple[int, dict]:
    import struct

    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8:8 + n])


def _with_header(data: bytes, header: dict) -> bytes:
    import struct

    n, _ = _header(data)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body + data[8 + n:]


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "not a readable safetensors file"),  # truncated download
    (lambda data: (1 << 50).to_bytes(8, "little") + data[8:], "header too large"),  # a header length past the file
])
def test_damaged_safetensors_named_before_reading(model_dir, damage, message):
    f = model_dir / "model.safetensors"
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_model(model_dir)


def test_offsets_past_the_file_named(model_dir):
    f = model_dir / "model.safetensors"
    data = f.read_bytes()
    _, header = _header(data)
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = [0, 1 << 40]  # a terabyte declared: refused, never allocated
    f.write_bytes(_with_header(data, header))
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        load_model(model_dir)


def test_integer_and_nan_weights_named(model_dir):
    _edit_tensors(model_dir, lambda s: s.update({"model.norm.weight": s["model.norm.weight"].to(torch.int32)}))
    with pytest.raises(CheckpointError, match="tensor model.norm.weight has dtype int32, not a float type"):
        load_model(model_dir)

    def poison(s):
        w = s["model.norm.weight"].float()
        w[3] = float("nan")
        s["model.norm.weight"] = w
    _edit_tensors(model_dir, poison)
    with pytest.raises(CheckpointError, match=r"tensor model.norm.weight holds 1 NaN/inf value\(s\)"):
        load_model(model_dir)
