"""One module per LSP feature; each has register(ls) and a thin handler over plain functions."""
