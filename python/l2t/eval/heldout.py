"""Held-out loss and perplexity: the "general ability kept" side of a linguistic-competence gain.

Each document is ``[prefix] + encode(text)`` (the prefix being BOS, else EOS, as for BLiMP) and
is cut into disjoint windows of ``seq_len`` predicted tokens; a window's context is its own
tokens only, starting with the token before its first target (so every token after the prefix
is predicted exactly once, with up to ``seq_len`` tokens of context). This is
lm-evaluation-harness's rolling log-likelihood with a context of one token between windows.

Reported: the mean loss in nats per token, its perplexity, the tokens scored, and bits per
UTF-8 byte of the text (which, unlike the loss, compares across tokenizers).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from l2t._l2t import ConfigError, InputError
from l2t.eval.models import prepare
from l2t.eval.scorer import score_sequences


def read_documents(path: str | os.PathLike[str], text_field: str = "text") -> list[str]:
    """The documents of a held-out file: each ``.jsonl`` row's `text_field`, or the whole file.

    Raises:
        InputError: a missing or unreadable file, a row without the text field, no text.

    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read held-out text {p}: {e}") from e
    if p.suffix != ".jsonl":
        docs = [raw] if raw.strip() else []
    else:
        docs = []
        for row, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)[text_field]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InputError(f"{p}, row {row}: no {text_field!r} string: {e!r}") from e
            if not isinstance(value, str):
                raise InputError(f"{p}, row {row}: {text_field!r} is not a string")
            if value.strip():
                docs.append(value)
    if not docs:
        raise InputError(f"{p}: no text")
    return docs


def windows(ids: list[int], seq_len: int) -> list[list[int]]:
    """Disjoint scoring windows of a document's ids (the first id is context only).

    Window ``k`` holds ``ids[k*seq_len : (k+1)*seq_len + 1]``: the token before its targets,
    then up to ``seq_len`` targets.
    """
    return [ids[s : s + seq_len + 1] for s in range(0, len(ids) - 1, seq_len)]


def perplexity(
    model: Any,
    tokenizer: Any = None,
    text_file: str | os.PathLike[str] | None = None,
    *,
    seq_len: int = 1024,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    bf16: bool | None = None,
    text_field: str = "text",
) -> dict[str, Any]:
    """Loss, perplexity and bits per byte of a model on held-out text.

    Args:
        model: as for :func:`l2t.eval.blimp` (a path or a module).
        tokenizer: as for :func:`l2t.eval.blimp`.
        text_file: a text file (one document) or ``.jsonl`` (one document per row).
        seq_len: predicted tokens per window.
        batch_size: windows per forward pass.
        device: where to score (default: a module's own device; for paths CUDA if present).
        bf16: bfloat16 autocast; None: on GPUs.
        text_field: the text field of ``.jsonl`` rows.

    Returns:
        ``{"loss", "perplexity", "tokens", "bytes", "bits_per_byte", "documents", "seq_len"}``.

    """
    if text_file is None:
        raise ConfigError("perplexity needs a text file")
    if seq_len < 1:
        raise ConfigError(f"seq_len must be >= 1, not {seq_len}")
    docs = read_documents(text_file, text_field)
    loaded, tok, where = prepare(model, tokenizer, device=device, bf16=bf16)
    pieces = [w for ids in tok.encode(docs) for w in windows([tok.prefix_id, *ids], seq_len)]
    pieces = [w for w in pieces if len(w) >= 2]
    if not pieces:
        raise InputError(f"{text_file}: the text encodes to no tokens")
    scores = score_sequences(
        loaded.module, pieces, batch_size=batch_size, device=where, bf16=bf16, pad_id=tok.prefix_id
    )
    # One value per window, even for equal windows (which share a forward pass).
    nats = -float(scores.values.sum())
    tokens = sum(len(w) - 1 for w in pieces)
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    loss = nats / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "tokens": tokens,
        "bytes": n_bytes,
        "bits_per_byte": nats / math.log(2) / n_bytes,
        "documents": len(docs),
        "seq_len": seq_len,
        "model": loaded.name,
    }
