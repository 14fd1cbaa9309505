"""The two arms' jobs for one task, built by the server's own code, and what the model sees of them.

    arms = Arms(root)                  # a WorkspaceSlot over the project, scanned now, no watcher
    jobs = arms.jobs(task)             # {"plain": InfillJob, "workspace": InfillJob, "oracle": InfillJob}
    seen = model_view(engine, job)     # prompt tokens, and the part of the preamble inside the window
    arms.close()

Nothing here builds a prompt: the document is what the editor holds while the line is still to be
written (prefix + suffix, the cursor at the start of the empty line), and from it
  plain      completer.job_for with the options' workspaceContext off (no snippets, the whole
             window for the file), as the server sends it;
  workspace  the server's steps for a request: didOpen in a WorkspaceSlot, slot.snippets with
             completer.workspace_budget(options), completer.job_for with those snippets (their
             share comes out of the prefix's window).
and one control, not something the server could send:
  oracle     the workspace job with the answer itself as its preamble (a `# file:` block holding
             just the line): the most any context in that slot could give this model.
Options are the server's defaults except mode "line" (the task is one line, as in HumanEval's
single-line split), so both arms decode alike with the engine's default strategy.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from seed_lsp.completer import job_for, workspace_budget
from seed_lsp.evalrepo.tasks import RepoTask
from seed_lsp.options import Options
from seed_lsp.workspace.snippets import format_block
from seed_lsp.workspace_slot import WorkspaceSlot

ARMS = ("plain", "workspace", "oracle")


def default_options() -> Options:
    return Options(mode="line")


class Arms:
    def __init__(self, root: Path, options: Options | None = None, engine=None) -> None:
        self.options = options or default_options()
        self.engine = engine  # its window sizes the jobs as the server's would (None: the fallback budget)
        self.off = replace(self.options, workspace_context=False)
        self.slot = WorkspaceSlot()
        self.slot.start_now([root.resolve()], watch=False)  # a fixed snapshot: nothing to follow

    def jobs(self, task: RepoTask) -> dict:
        uri = task.path.as_uri()
        document = task.prefix + task.suffix
        offset = len(task.prefix)
        self.slot.did_open(uri, document)
        try:
            out = {}
            for arm, o in (("plain", self.off), ("workspace", self.options)):
                snippets = self.slot.snippets(uri, document, workspace_budget(o, self.engine))
                _, job = job_for(o, document, offset, offset, offset, uri, snippets, self.engine)
                # No key: with one, the engine carries a document's cache and last fill into its next
                # job (reuse, draft warm start), and one arm's answer would seed the other's.
                out[arm] = replace(job, key=None)
            out["oracle"] = replace(out["workspace"], preamble=format_block(task.rel, task.middle.strip()))
            return out
        finally:
            self.slot.did_close(uri)  # one open document at a time: no task sees another's outline

    def close(self) -> None:
        self.slot.stop()


def model_view(engine, job) -> dict:
    """What the model is given: prompt tokens (context ids in the canvas, masks not counted) and
    the preamble's text as far as the runtime keeps it (its head, within a share of the window)."""
    from runtime.infill import PREAMBLE_SHARE, build_canvas
    from runtime.jobs import CancelToken

    canvas = build_canvas(job, engine.model, engine.tokenizer, engine.options, CancelToken())
    mask = engine.model.spec.mask_id
    kept = engine.tokenizer.encode(job.preamble)[: engine.options.max_context // PREAMBLE_SHARE] if job.preamble else []
    return {"prompt_tokens": sum(i != mask for i in canvas.ids), "preamble_tokens": len(kept),
            "preamble_seen": engine.tokenizer.decode(kept) if kept else ""}
