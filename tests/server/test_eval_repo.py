"""Repository-level eval (seed_lsp/evalrepo/): cross-file lines are found in a multi-file project
(and nothing else is), the workspace arm's job carries the imported definition as the server would
send it and the plain arm's does not (the oracle control holds the answer line), the paired scores
count what they say, the likelihood is read at the gap, and `seed-lsp eval repo` runs end to end on
the tiny model and writes every arm."""
from __future__ import annotations

import json

from seed_lsp import cli
from seed_lsp.evalrepo.cli import mentions, summarize
from seed_lsp.evalrepo.likelihood import line_likelihood
from seed_lsp.evalrepo.prompts import Arms, model_view
from seed_lsp.evalrepo.tasks import build_tasks

A = ("LIMIT = 3\n\n\ndef scale(xs, k):\n    return [k * x for x in xs]\n\n\n"
     "def unused():\n    return 0\n\n\nclass Box:\n    pass\n")
B = ('from pkg.a import scale, LIMIT\nfrom pkg import a as mod\n\n\ndef main(values):\n'
     '    """Double them with scale()."""\n'
     '    doubled = scale(values, 2)  # the cross-file line\n'
     '    # scale is mentioned in a comment only\n'
     '    text = "scale in a string"\n'
     '    total = sum(doubled) + LIMIT\n'
     '    return mod.Box(), total, text\n\n\n'
     'def lazy():\n    from pkg.a import unused\n    return unused()\n\n\n'
     'def other(unused):\n    return unused\n')
TASKS = [("doubled = scale(values, 2)  # the cross-file line", "scale", "function"),
         ("total = sum(doubled) + LIMIT", "LIMIT", "constant"),
         ("return mod.Box(), total, text", "mod", "module"),
         ("return unused()", "unused", "function")]


def project(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(A)
    (tmp_path / "pkg" / "b.py").write_text(B)
    return tmp_path


def test_tasks_are_body_lines_using_a_name_from_another_file(tmp_path):
    tasks = build_tasks(project(tmp_path))
    # not the docstring, the comment or the string; a function's own import binds only inside it
    assert [(t.middle.strip(), t.name, t.kind) for t in tasks] == TASKS
    assert {(t.rel, t.source) for t in tasks} == {("pkg/b.py", "pkg/a.py")}
    for t in tasks:
        assert t.prefix + t.middle + t.suffix == B and t.prefix.endswith("\n") and t.suffix.startswith("\n")
    assert build_tasks(tmp_path, ["pkg/a.py"]) == [], "a.py imports nothing of the project"


def test_workspace_arm_carries_the_definition_and_plain_does_not(tmp_path, tiny_model_dir):
    from runtime import Engine

    root = project(tmp_path)
    task = build_tasks(root)[0]
    arms = Arms(root)
    try:
        jobs = arms.jobs(task)
    finally:
        arms.close()
    plain, ws = jobs["plain"], jobs["workspace"]
    assert "# file: pkg/a.py" in ws.preamble and "def scale(xs, k):" in ws.preamble and "LIMIT = 3" in ws.preamble
    assert "def unused" not in ws.preamble and task.middle.strip() not in ws.preamble, "only what b.py imports"
    assert plain.preamble == "" and "def scale" not in plain.prefix + plain.suffix
    assert (plain.prefix, plain.suffix) == (ws.prefix, ws.suffix) == (task.prefix, task.suffix)
    assert plain.mode == ws.mode == "line" and plain.key is None and ws.key is None
    oracle = jobs["oracle"]
    assert oracle.preamble == "# file: pkg/b.py\n" + task.middle.strip() + "\n" and oracle.prefix == ws.prefix
    engine = Engine.load(tiny_model_dir, device="cpu")
    try:
        seen, bare = model_view(engine, ws), model_view(engine, plain)
    finally:
        engine.close()
    assert seen["prompt_tokens"] == bare["prompt_tokens"] + seen["preamble_tokens"] > bare["prompt_tokens"]
    assert "scale" in seen["preamble_seen"] and bare["preamble_seen"] == ""


def _row(plain: str, workspace: str, seen: bool) -> dict:
    arm = lambda text: {"text": text, "exact": text == "y = f(x)", "identifier_hit": mentions(text, "f"),  # noqa: E731
                        "nonempty": bool(text), "name_in_preamble": seen, "name_seen": seen, "ms": 1.0,
                        "prompt_tokens": 10, "preamble_chars": 0, "preamble_tokens": 0, "tokens": 1, "steps": 1,
                        "nll": 2.0, "name_nll": 1.0 if "f" in text else 3.0, "name_top1": "f" in text}
    return {"plain": arm(plain), "workspace": arm(workspace)}


def test_paired_scores_count_who_alone_got_it():
    assert mentions("y = f(x)", "f") and not mentions("y = g.f(x)", "f") and not mentions("y = ff(x)", "f")
    s = summarize([_row("y = g(x)", "y = f(x)", True), _row("y = f(x)", "y = f(x)", False), _row("", "z", False)])
    assert s["plain"]["identifier_hit"] == 33.33 and s["workspace"]["identifier_hit"] == 66.67
    assert s["plain"]["nonempty"] == 66.67 and s["workspace"]["exact"] == 66.67
    p = s["paired"]
    assert p["identifier_hit_only_workspace"] == 1 and p["identifier_hit_only_plain"] == 0 and p["differ"] == 66.67
    assert p["name_seen_n"] == 1 and p["identifier_hit_when_seen_workspace"] == 100.0
    assert p["identifier_hit_when_seen_plain"] == 0.0
    assert p["name_nll_lower_workspace"] == 33.33 and s["workspace"]["mean_name_nll"] == 1.67
    assert p["mean_name_nll_when_seen_plain"] == 3.0 and p["name_top1_when_seen_workspace"] == 100.0


def test_line_likelihood_reads_the_true_tokens_at_the_gap(tiny_model_dir):
    """A fake head that puts all mass on the line's tokens exactly where the gap must sit (after the
    preamble and the prefix): nll 0 and top-1 there; anywhere else it would be large."""
    import torch

    from runtime import Engine
    from runtime.jobs import InfillJob

    engine = Engine.load(tiny_model_dir, device="cpu")
    tok, middle = engine.tokenizer, "    y = scale(x, 2)"
    job = InfillJob(prefix="def f(x):\n", suffix="\n    return y\n", mode="line", preamble="# file: a.py\ndef scale(xs, k): ...\n")
    ids, start = tok.encode(middle), len(tok.encode(job.preamble)) + len(tok.encode(job.prefix))

    def fake(input_ids, key_mask=None):
        logits = torch.zeros(1, input_ids.shape[1], engine.model.arch.vocab_size)
        pos = torch.arange(start, start + len(ids))
        keep = pos < input_ids.shape[1]
        logits[0, pos[keep], torch.tensor(ids)[keep]] = 100.0
        return logits

    engine.model.aligned_logits = fake
    try:
        right = line_likelihood(engine, job, middle, "scale")
        shifted = line_likelihood(engine, InfillJob(prefix="def f(x):\n", suffix=job.suffix, mode="line"), middle, "scale")
    finally:
        engine.close()
    assert right["nll"] < 1e-3 and right["name_nll"] < 1e-3 and right["name_top1"]
    assert shifted["nll"] > 1 and not shifted["name_top1"], "without the preamble the gap starts elsewhere"


def test_cli_eval_repo_end_to_end(tmp_path, tiny_model_dir):
    (tmp_path / "proj").mkdir()
    root = project(tmp_path / "proj")
    out, rows = tmp_path / "repo.json", tmp_path / "repo.jsonl"
    assert cli.main(["eval", "repo", "--project", str(root), "--model", str(tiny_model_dir), "--quiet",
                     "--limit", "2", "--json", str(out), "--jsonl", str(rows)]) == 0
    res = json.loads(out.read_text())
    assert res["tasks_found"] == 4 and res["n"] == 2
    assert set(res["summary"]) == {"plain", "workspace", "oracle", "paired"}
    assert res["summary"]["workspace"]["mean_preamble_chars"] > 0 == res["summary"]["plain"]["mean_preamble_chars"]
    records = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [r["middle"].strip() for r in records] == [TASKS[0][0], TASKS[2][0]], "--limit spreads evenly"
    assert all({"plain", "workspace", "oracle"} <= set(r) for r in records)
    assert all(r["oracle"]["name_in_preamble"] and not r["plain"]["name_in_preamble"] for r in records)
    assert cli.main(["eval", "repo", "--project", str(root), "--files", "pkg/a.py", "--quiet"]) == 2, "no tasks"
