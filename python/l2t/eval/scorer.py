"""Summed log-probabilities of token sequences under a causal LM, batched by length.

The score of a sequence ``x_0 .. x_n`` is ``sum_{t>=1} log p(x_t | x_0 .. x_{t-1})``: every token
but the first is scored, the first being the context (for BLiMP, the prefix token). This is
lm-evaluation-harness's ``loglikelihood`` of a continuation, computed the same way (one forward
pass over ``x_0 .. x_{n-1}``, log-softmax over the vocabulary, the target's entry), except that
the log-softmax is taken in float32 even when the model computes in bfloat16.

Speed without changing any score:

- identical sequences are scored once (BLiMP repeats sentences across pairs and paradigms; the
  seven pairs whose two sentences are equal then tie exactly);
- sequences are sorted by length (longest first, so memory peaks at once) and cut into batches
  of similar length, right-padded; no attention mask is needed, since under the causal mask no
  real token sees a pad after it;
- only the logsumexp and the target logit of each position are kept, never a log-softmax copy.

The model is left as it was found: its modules' train/eval flags are restored, gradients are
off, and the torch RNG state (CPU and the device's) is forked, so a trainer can score its live
model between steps without changing what comes next.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from l2t._l2t import ConfigError
from l2t.eval.models import logits_function, module_device


@dataclass
class SequenceScores:
    """What :func:`score_sequences` returns.

    Attributes:
        values: the summed log-probability of each input sequence (float64), in input order.
        unique: distinct sequences actually scored.
        tokens: tokens fed to the model (padding excluded).
        batches: forward passes.
        seconds: wall time of the scoring.

    """

    values: np.ndarray
    unique: int
    tokens: int
    batches: int
    seconds: float


@contextlib.contextmanager
def preserved_modes(module: torch.nn.Module) -> Iterator[None]:
    """Puts `module` in eval mode, then restores every submodule's own train/eval flag."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training  # not m.train(): that would recurse over mixed children


def _precision(device: torch.device, bf16: bool | None) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on GPUs by default; None on the CPU leaves a caller's autocast alone."""
    if bf16 is None:
        bf16 = device.type == "cuda"
        if not bf16:
            return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def _rng_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def score_sequences(
    module: torch.nn.Module,
    sequences: Sequence[Sequence[int]],
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    bf16: bool | None = None,
    pad_id: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
) -> SequenceScores:
    """The summed log-probability of every token after the first, for each sequence.

    Args:
        module: an l2t ``CausalLM`` or a transformers causal LM (wrappers are fine).
        sequences: token ids, each at least 2 long.
        batch_size: sequences per forward pass.
        device: where the inputs go (default: where the module's parameters are). The module
            itself is never moved.
        bf16: bfloat16 autocast; None: on GPUs yes, on the CPU whatever the caller set.
        pad_id: the id right padding uses (any valid id: pads are never scored or attended to).
        on_batch: called after each batch with (sequences done, sequences in all).

    Returns:
        The :class:`SequenceScores`.

    Raises:
        ConfigError: a sequence shorter than 2 tokens, or a batch size below 1.

    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
    where = torch.device(device) if device is not None else module_device(module)
    logits_of = logits_function(module)
    unique: dict[tuple[int, ...], int] = {}
    index = np.empty(len(sequences), dtype=np.int64)
    for i, seq in enumerate(sequences):
        key = tuple(int(t) for t in seq)
        if len(key) < 2:
            raise ConfigError(f"sequence {i} has {len(key)} tokens; a score needs at least 2")
        index[i] = unique.setdefault(key, len(unique))
    keys = list(unique)
    # Longest first, ties by content: the batches (and so the scores, bit for bit) depend only
    # on the set of sequences, not on the order they were given in.
    order = sorted(range(len(keys)), key=lambda j: (-len(keys[j]), keys[j]))
    values = np.zeros(len(keys), dtype=np.float64)
    tokens = batches = 0
    t0 = time.perf_counter()
    with (
        preserved_modes(module),
        torch.random.fork_rng(devices=_rng_devices(where)),
        torch.no_grad(),
        _precision(where, bf16),
    ):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            lengths = np.array([len(keys[j]) for j in chunk])
            rows = np.full((len(chunk), int(lengths.max())), pad_id, dtype=np.int64)
            for r, j in enumerate(chunk):
                rows[r, : lengths[r]] = keys[j]
            values[chunk] = _batch_logprobs(logits_of, rows, lengths, where)
            tokens += int(lengths.sum())
            batches += 1
            if on_batch is not None:
                on_batch(start + len(chunk), len(order))
    seconds = time.perf_counter() - t0
    return SequenceScores(values[index], len(keys), tokens, batches, seconds)


def _batch_logprobs(
    logits_of: Callable[[torch.Tensor], torch.Tensor],
    rows: np.ndarray,
    lengths: np.ndarray,
    device: torch.device,
) -> np.ndarray:
    """Summed log-probabilities of right-padded rows (``rows[i, 1:lengths[i]]`` scored)."""
    ids = torch.from_numpy(rows).to(device)
    logits = logits_of(ids)[:, :-1].float()  # position t predicts token t + 1
    targets = ids[:, 1:]
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = picked - torch.logsumexp(logits, dim=-1)
    width = targets.shape[1]
    scored = (
        torch.arange(width, device=device)[None, :]
        < torch.from_numpy(lengths - 1).to(device)[:, None]
    )
    total = torch.where(scored, logprobs, torch.zeros_like(logprobs)).sum(dim=-1)
    return total.double().cpu().numpy()
