"""Training: corpus building, BPE tokenizer, masked-diffusion training examples, the training loop.

Data side: corpus.py (offline Python sources -> jsonl), bpe.py (byte-level BPE + token memmaps),
examples.py (token stream -> masked-diffusion / infill batches). Nothing here is imported at serve time.
"""
