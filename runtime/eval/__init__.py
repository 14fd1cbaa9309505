"""HumanEval infilling evaluation: tasks (splits), a sandbox that runs the problem's tests on the
filled program, scoring (pass@1, exact match, failure modes), the eval loop and its CLI
(`seed-lsp eval humaneval ...`). Imports the engine only when a model is evaluated.
"""
