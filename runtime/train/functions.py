"""Function documents: the corpus cut into stand-alone top-level functions, a second token stream.

Contract
--------
function_docs(source) -> list[str]: for each top-level `def` (sync or async, decorators included) of a
Python module whose source is MIN_LINES..MAX_LINES lines long, one document: the module's top-level
imports that bind a name the function uses (as HumanEval's `from typing import List`), two blank
lines, the function. Methods, nested functions, stubs (a body of only
`pass` / `...` / a docstring / `raise`) and modules that do not parse give nothing.
main(): data/corpus/{train,heldout}.jsonl -> data/tokens/functions-{train,heldout}.bin (eos after each
document, the same tokenizer as the main streams) and a "functions" entry in data/corpus/stats.json.

Why: the corpus is library code (classes, `self.` everywhere), while the editor's commonest job and
the eval's (HumanEval) is the body of a small free function under its signature and docstring. The
trainer (`--functions SHARE`) draws that share of its rows from this stream: the same files, no new
data, re-weighted towards the task. The corpus filters (no HumanEval signatures or solutions) already
apply, since every document is a piece of a corpus file.
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

from tqdm import tqdm

MIN_LINES, MAX_LINES = 3, 60


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    trivial = (ast.Pass, ast.Raise)
    return all(isinstance(s, trivial) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body)


def _bound_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    """Names an import statement binds: `import a.b` binds a; `from m import x as y` binds y."""
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def function_docs(source: str) -> list[str]:
    """Imports + each top-level function of `source`, as separate documents (see the module contract)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines(keepends=True)
    imports = [(node, _bound_names(node)) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    docs = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or _is_stub(node):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        n_lines = node.end_lineno - first + 1
        if not MIN_LINES <= n_lines <= MAX_LINES:
            continue
        # Only the imports the function uses: a module's full import block, repeated before each of
        # its functions, was half of all characters.
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        imports_used = "".join("".join(lines[imp.lineno - 1:imp.end_lineno]) for imp, names in imports if names & used)
        body = "".join(lines[first - 1:node.end_lineno]).rstrip("\n") + "\n"
        docs.append((imports_used.rstrip("\n") + "\n\n\n" if imports_used else "") + body)
    return docs


def write_split(jsonl: Path, out_jsonl: Path) -> dict:
    n_files = n_docs = n_chars = 0
    with open(jsonl, encoding="utf-8") as f, open(out_jsonl, "w", encoding="utf-8") as out:
        for line in tqdm(f, desc=jsonl.stem, unit="file", mininterval=5):
            row = json.loads(line)
            docs = function_docs(row["text"])
            n_files += 1
            for d in docs:
                out.write(json.dumps({"path": row["path"], "text": d}) + "\n")
                n_docs += 1
                n_chars += len(d)
    return {"files": n_files, "documents": n_docs, "chars": n_chars}


def main(argv: list[str] | None = None) -> None:
    from tokenizers import Tokenizer

    from runtime.train.bpe import write_tokens

    p = argparse.ArgumentParser(description="Cut the corpus into function documents and tokenize them.")
    p.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    p.add_argument("--tokenizer", type=Path, default=Path("data/tokenizer.json"))
    p.add_argument("--tokens", type=Path, default=Path("data/tokens"))
    a = p.parse_args(argv)
    t0 = time.time()
    tok = Tokenizer.from_file(str(a.tokenizer))
    info = {}
    for split in ("train", "heldout"):
        docs = a.corpus / f"functions-{split}.jsonl"
        info[split] = write_split(a.corpus / f"{split}.jsonl", docs)
        info[split]["tokens"] = write_tokens(tok, docs, a.tokens / f"functions-{split}.bin")
    info["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(info), flush=True)
    stats_file = a.corpus / "stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    stats["functions"] = info
    stats_file.write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
