"""Shared fixtures: tiny random checkpoints written to temp dirs (no downloads, no training)."""
from __future__ import annotations

import os

# Servers started by tests load their model in-process unless a test asks for the daemon itself:
# no test may leave a workstation daemon behind.
os.environ.setdefault("SEED_LSP_DAEMON", "off")

import pytest  # noqa: E402
import torch  # noqa: E402

from runtime.loader import new_model, save_model  # noqa: E402
from tests.helpers import qwen2_config, write_tokenizer  # noqa: E402


def make_tiny_model_dir(root, shifted=False, seed=0, **config_kw):
    tok = write_tokenizer(root / "tok")
    config = qwen2_config(vocab=tok.vocab_size, model_type="qwen2", tied=True, mask_id=0, eos_id=2, pad_id=1,
                          shifted=shifted, **config_kw)
    torch.manual_seed(seed)
    model = new_model(config, tok)
    return save_model(model, root / "model", root / "tok" / "tokenizer.json")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """An embedded-model-shaped checkpoint (Qwen2 names, unshifted, tied) with random weights."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_shifted_model_dir(tmp_path_factory):
    """A Dream-shaped (shifted) tiny checkpoint."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_shifted"), shifted=True, seed=1)
