"""Held-out perplexity of a Hugging Face causal LM on a .bin/.idx or jsonl.

Token-weighted over all predicted tokens (padding never counts): exp(sum of losses / number of tokens).
Documents are cut into windows of ``--seq_len`` + 1 tokens (non-overlapping, so each token is predicted
once, with the context of its own window).
"""
from __future__ import annotations

import math
from pathlib import Path
from collections.abc import Iterator

from pretraining.models.objectives import PAD_ID, get_objective


def _documents(data: str, tokenizer, text_column: str, limit: int | None) -> Iterator[list[int]]:
    prefix = data[:-4] if data.endswith((".bin", ".idx")) else data
    if Path(prefix + ".bin").is_file() and Path(prefix + ".idx").is_file():
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        ds = IndexedDataset(prefix)
        for i in range(len(ds) if limit is None else min(limit, len(ds))):
            yield ds[i].tolist()
        return
    from njsl.documents import iter_documents

    eos = tokenizer.eos_token_id
    for doc in iter_documents(data, text_column=text_column, limit=limit):
        yield tokenizer(doc.text, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])


def _windows(docs: Iterator[list[int]], size: int) -> Iterator[list[int]]:
    for ids in docs:
        for start in range(0, max(len(ids) - 1, 0), size - 1):
            window = ids[start:start + size]
            if len(window) >= 2:
                yield window


def perplexity(model, tokenizer, data: str, *, seq_len: int, batch_size: int = 8, text_column: str = "text",
               limit: int | None = None, objective: str = "clm", device: str = "cpu", progress: bool | None = None
               ) -> dict:
    """Token-weighted loss and perplexity of ``model`` on ``data``."""
    import torch
    from tqdm import tqdm

    fn = get_objective(objective)
    loss_sum, n_tok = 0.0, 0
    batch: list = []
    generator = torch.Generator(device=device).manual_seed(0)

    def flush():
        nonlocal loss_sum, n_tok
        width = max(map(len, batch))
        tokens = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        for i, w in enumerate(batch):
            tokens[i, :len(w)] = torch.tensor(w)
        with torch.no_grad():
            ls, n = fn(model, tokens.to(device), PAD_ID, generator)
        loss_sum += float(ls)
        n_tok += int(n)
        batch.clear()

    for window in tqdm(_windows(_documents(data, tokenizer, text_column, limit), seq_len + 1),
                       desc="perplexity", unit="window", disable=None if progress is None else not progress):
        batch.append(window)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if n_tok == 0:
        raise ValueError(f"{data}: no tokens to score (empty documents?)")
    loss = loss_sum / n_tok
    name = "perplexity" if objective == "clm" else "pseudo_perplexity"
    return {"loss": loss, name: math.exp(loss), "tokens": n_tok, "data": str(data)}
