"""`seed-lsp eval repo`: does the workspace context help? (tasks.py: cross-file lines of a project;
prompts.py: the two arms' jobs, built by the server's own code; cli.py: run, score, report)."""
