"""Repository-level eval (seed_lsp/eval_repo.py): cross-file tasks are found in a real multi-file
project, the workspace arm's job carries the imported definition as its preamble and the plain
arm's does not, and `seed-lsp eval repo` runs end to end and writes both arms."""
from __future__ import annotations

import json

from seed_lsp import cli
from seed_lsp.eval_repo import build_tasks, run

UTIL = "def scale(xs, k):\n    return [k * x for x in xs]\n\n\ndef unused():\n    return 0\n"
MAIN = ("from pkg.util import scale\n\n\ndef main(values):\n    \"\"\"Double them.\"\"\"\n"
        "    doubled = scale(values, 2)\n    total = sum(doubled)\n    return total\n")


def project(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(UTIL)
    (tmp_path / "main.py").write_text(MAIN)
    return tmp_path


def test_tasks_are_body_lines_using_a_cross_file_name(tmp_path):
    tasks = build_tasks(project(tmp_path))
    assert [(t.path.name, t.middle.strip(), t.name) for t in tasks] == [("main.py", "doubled = scale(values, 2)", "scale")]
    t = tasks[0]
    assert t.prefix + t.middle + t.suffix == MAIN


def test_workspace_arm_carries_the_definition(tmp_path, tiny_model_dir):
    from runtime import Engine

    root = project(tmp_path)
    seen = []
    engine = Engine.load(tiny_model_dir, device="cpu")
    real_submit = engine.submit

    def spy(job):
        seen.append(job)
        return real_submit(job)

    engine.submit = spy
    try:
        result = run(build_tasks(root), root, engine, budget_chars=1000, progress=False)
    finally:
        engine.close()
    plain, workspace = seen
    assert plain.preamble == "" and "def scale(xs, k):" in workspace.preamble and "def unused" not in workspace.preamble
    assert result["summary"]["workspace"]["name_in_preamble"] == 100.0
    assert result["summary"]["plain"]["mean_preamble_chars"] == 0


def test_cli_eval_repo_end_to_end(tmp_path, tiny_model_dir):
    (tmp_path / "proj").mkdir()
    root = project(tmp_path / "proj")
    out = tmp_path / "repo.json"
    assert cli.main(["eval", "repo", "--project", str(root), "--model", str(tiny_model_dir), "--quiet",
                     "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["summary"]) == {"plain", "workspace"} and res["summary"]["plain"]["n"] == 1
    assert cli.main(["eval", "repo", "--project", str(tmp_path / "proj" / "pkg"), "--quiet"]) == 2, "no tasks"
