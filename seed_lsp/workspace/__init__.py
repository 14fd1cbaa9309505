"""Workspace context: an index of the workspace folders kept current by watchdog, and the
cross-file snippets a completion prompt gets from it (see context.WorkspaceContext).

ignore (.gitignore matcher) · index (files in memory, caps) · watcher (watchdog events) ·
imports (Python import resolution) · snippets (definitions, outlines, blocks) · context (selection).
"""
from seed_lsp.workspace.context import WorkspaceContext, uri_to_path

__all__ = ["WorkspaceContext", "uri_to_path"]
