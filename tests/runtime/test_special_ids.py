"""The special-id rule of runtime/special_ids.py, one source at a time, on Dream-v0-Instruct's real
files (config.json, generation_config.json, tokenizer_config.json, special_tokens_map.json), plus
the other config checks of the loader: torch_dtype and memory, rope_theta's type, sliding windows,
the tied-head default."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runtime.loader import load_tokenizer, new_model_meta, read_files
from runtime.models import CheckpointError
from runtime.placement import choose_dtype
from runtime.special_ids import Files, resolve
from tests.real_checkpoints import REAL

DREAM = REAL / "dream-v0-instruct-7b"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(DREAM)


@pytest.fixture
def files() -> Files:
    return read_files(DREAM, json.loads((DREAM / "config.json").read_text()))


def ids(files, tok):
    return resolve(files, tok, 152064)


def test_published_files_resolve_as_written(files, tok):
    got = ids(files, tok)
    assert got.ids == {"mask": 151666, "bos": 151665, "eos": 151643, "pad": 151643, "eot": 151645,
                       "expand": None, "dlm_pad": None}
    assert len(got.conflicts) == 2 and all(c.startswith("bos:") for c in got.conflicts)


def test_mask_precedence_config_then_generation_then_tokenizer(files, tok):
    files.config["mask_token_id"] = 151664
    files.generation["mask_token_id"] = 151663
    assert ids(files, tok).ids["mask"] == 151664
    del files.config["mask_token_id"]
    assert ids(files, tok).ids["mask"] == 151663
    files.generation["mask_token_id"] = None  # as published: null
    files.tokenizer_config["mask_token"] = "<|fim_pad|>"
    assert ids(files, tok).ids["mask"] == 151662 and ids(files, tok).sources["mask"] == "tokenizer_config.json mask_token"
    del files.tokenizer_config["mask_token"]
    assert ids(files, tok).ids["mask"] == 151666 and ids(files, tok).sources["mask"] == "special_tokens_map.json mask_token"
    del files.special_map["mask_token"]
    assert ids(files, tok).sources["mask"] == "the vocabulary's <|mask|>"


@pytest.mark.parametrize("role, key", [("bos", "bos_token"), ("eos", "eos_token"), ("pad", "pad_token")])
def test_token_roles_precedence_tokenizer_then_generation_then_config(files, tok, role, key):
    files.config[f"{role}_token_id"] = 151650
    files.generation[f"{role}_token_id"] = [151651, 151652]  # a list: its first
    files.tokenizer_config[key] = "<|box_end|>"  # 151649
    assert ids(files, tok).ids[role] == 151649
    del files.tokenizer_config[key]
    files.special_map[key] = {"content": "<|quad_start|>"}  # 151650 via the map's dict form
    assert ids(files, tok).ids[role] == 151650 and ids(files, tok).sources[role] == f"special_tokens_map.json {key}"
    del files.special_map[key]
    assert ids(files, tok).ids[role] == 151651
    del files.generation[f"{role}_token_id"]
    assert ids(files, tok).ids[role] == 151650 and ids(files, tok).sources[role] == f"config.json {role}_token_id"


def test_expand_and_dlm_pad_come_from_the_directory_tokens(files, tok):
    assert ids(files, tok).ids["expand"] is None  # never guessed
    files.config["expand_token_id"] = 151662
    assert ids(files, tok).ids["expand"] == 151662


def test_bad_ids_are_named(files, tok):
    files.config["mask_token_id"] = "151666"
    with pytest.raises(CheckpointError, match="config.json mask_token_id must be a token id"):
        ids(files, tok)
    files.config["mask_token_id"] = 151643
    with pytest.raises(CheckpointError, match="mask id 151643 equals the eos/pad id"):
        ids(files, tok)
    files.config["mask_token_id"] = 160000
    with pytest.raises(CheckpointError, match=r"mask id 160000 \(config.json mask_token_id\) is not in the vocabulary"):
        ids(files, tok)


def _config(**changes) -> dict:
    config = json.loads((DREAM / "config.json").read_text())
    config.update(changes)
    return config


def test_dtype_follows_the_config_and_memory(tok):
    model = new_model_meta(_config(), tok)  # 7.6 B parameters, on meta: nothing allocated
    gib = 2**30
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_dtype(model, model.config, cpu, None, available=64 * gib) == torch.float32
    assert choose_dtype(model, model.config, cpu, None, available=24 * gib) == torch.bfloat16  # fp32 would not fit
    assert choose_dtype(model, model.config, cuda, None, available=80 * gib) == torch.bfloat16  # torch_dtype
    assert choose_dtype(model, _config(torch_dtype="float16"), cuda, None, available=80 * gib) == torch.float16
    with pytest.raises(CheckpointError, match=r"7\.6\d B parameters do not fit on cpu: 8\.0 GiB available, weights need "
                                              r"float32 28\.\d GiB, bfloat16 14\.\d GiB"):
        choose_dtype(model, model.config, cpu, None, available=8 * gib)
    with pytest.raises(CheckpointError, match="torch_dtype 'float8' is not one of"):
        choose_dtype(model, _config(torch_dtype="float8"), cpu, None, available=64 * gib)


def test_rope_theta_int_or_float_sliding_window_refused(tok):
    assert new_model_meta(_config(rope_theta=1000000), tok).arch.rope_theta == 1e6
    with pytest.raises(CheckpointError, match="rope_theta must be a number"):
        new_model_meta(_config(rope_theta="1e6"), tok)
    new_model_meta(_config(use_sliding_window=False, sliding_window=4096), tok)  # present but off: fine
    with pytest.raises(CheckpointError, match="use_sliding_window is true"):
        new_model_meta(_config(use_sliding_window=True, sliding_window=4096), tok)
    with pytest.raises(CheckpointError, match="rope_scaling"):
        new_model_meta(_config(rope_scaling={"type": "yarn", "factor": 4.0}), tok)


def test_tied_head_default_is_the_authors_class_default(tok):
    config = _config()
    del config["tie_word_embeddings"]
    assert not new_model_meta(config, tok).arch.tied_head  # DreamConfig: False
    root = REAL / "coda-v0-instruct"
    coda, coda_tok = json.loads((root / "config.json").read_text()), load_tokenizer(root)
    assert new_model_meta(coda, coda_tok, read_files(root, coda)).arch.tied_head  # CoDAConfig: True
    coda["tie_word_embeddings"] = False
    assert not new_model_meta(coda, coda_tok, read_files(root, coda)).arch.tied_head  # the file's own key wins
