"""BLiMP accuracy of a model, conditioned exactly as lm-evaluation-harness (0.4.x) conditions it.

The harness's BLiMP tasks are ``multiple_choice`` with an empty ``doc_to_text``, the choices
``[sentence_good, sentence_bad]`` and the target 0. For each choice it asks the model for the
log-likelihood of the continuation ``" " + sentence`` (its default ``target_delimiter``) after an
empty context; an empty context becomes the single prefix token (``bos_token_id``, else
``eos_token_id``), and the continuation is encoded with ``add_special_tokens=False``. A pair is
right when ``argmax([ll_good, ll_bad]) == 0``: the good sentence scores higher, or ties.

Here the same ids are built (``[prefix] + encode(" " + sentence)``) and scored by
:func:`l2t.eval.scorer.score_sequences`. ``docs/eval.md`` gives the harness's source for each step.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from l2t._l2t import ConfigError, __version__
from l2t.eval.data import Paradigm, load_blimp
from l2t.eval.models import LoadedModel, prepare
from l2t.eval.report import BlimpReport, PairScore
from l2t.eval.scorer import score_sequences
from l2t.eval.tokenizer import ScoringTokenizer

# What lm-evaluation-harness puts between an (empty) context and a choice.
TARGET_DELIMITER = " "

CONDITIONING = (
    "lm-evaluation-harness 0.4.x multiple_choice: context '' -> [BOS, else EOS]; continuation "
    "' ' + sentence, add_special_tokens=False; summed log-probability; tie -> good"
)


def pair_requests(
    tokenizer: ScoringTokenizer, paradigms: Sequence[Paradigm]
) -> tuple[list[list[int]], list[tuple[str, str]]]:
    """The scored ids of every sentence, good then bad for each pair, and (paradigm, pair id).

    Returns:
        ``(sequences, keys)``: ``sequences[2 * i]`` and ``sequences[2 * i + 1]`` are the good
        and bad sentence of the pair ``keys[i]``.

    """
    prefix = tokenizer.prefix_id
    texts: list[str] = []
    keys: list[tuple[str, str]] = []
    for p in paradigms:
        for pair in p.pairs:
            texts += [TARGET_DELIMITER + pair.good, TARGET_DELIMITER + pair.bad]
            keys.append((p.name, pair.pair_id))
    return [[prefix, *ids] for ids in tokenizer.encode(texts)], keys


def _resolve_data(data: str | os.PathLike[str] | None) -> str | os.PathLike[str]:
    if data is None:
        data = os.environ.get("L2T_BLIMP_DATA")
    if data is None:
        raise ConfigError("BLiMP data is needed: a directory of jsonl files, or 'hf'")
    return data


def _progress_printer(label: str) -> Callable[[int, int], None]:
    start = time.perf_counter()
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            rate = done / max(now - start, 1e-9)
            end = "\n" if done == total else "\r"
            print(f"{label}: {done:,}/{total:,} sentences, {rate:,.0f}/s", end=end, file=sys.stderr)

    return show


def blimp(
    model: Any,
    tokenizer: Any = None,
    data: str | os.PathLike[str] | None = None,
    *,
    paradigms: Sequence[str] | str | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    bf16: bool | None = None,
    name: str | None = None,
    progress: bool | None = False,
) -> BlimpReport:
    """BLiMP accuracy of a causal LM, as lm-evaluation-harness scores it.

    Args:
        model: a path (HF directory, GGUF file or directory, l2t run or ``step-*`` checkpoint),
            a hub name, a :class:`~l2t.eval.models.LoadedModel`, or an ``nn.Module`` (an l2t
            ``CausalLM`` or a transformers causal LM). A module is neither moved nor cast, and
            is left in the train/eval mode it was in.
        tokenizer: a path, name, ``tokenizer.json`` text, ``l2t.Tokenizer``,
            ``tokenizers.Tokenizer`` or transformers tokenizer; None when `model` is a path that
            carries one.
        data: BLiMP's directory of jsonl files, or ``"hf"`` (default: ``$L2T_BLIMP_DATA``).
        paradigms: only these paradigms (default: all).
        limit: the first `limit` pairs of each paradigm (default: all).
        batch_size: sentences per forward pass (two per pair).
        device: where to score (default: a module's own device; for paths CUDA if present).
        bf16: bfloat16 (autocast; path-loaded models get bf16 weights on GPUs); None: on GPUs.
        name: the model's name in the report (default: from the path or the module's class).
        progress: print a progress line on standard error (None: when it is a terminal).

    Returns:
        The :class:`~l2t.eval.report.BlimpReport`, per-pair scores included.

    Raises:
        ConfigError: bad arguments, or no tokenizer to be found.
        InputError: missing or malformed data (naming the file and row).

    """
    resolved = _resolve_data(data)
    chosen = load_blimp(resolved, paradigms=paradigms, limit=limit)
    loaded, tok, where = prepare(model, tokenizer, device=device, bf16=bf16)
    suite = BlimpSuite(chosen, tok, data=resolved, limit=limit)
    return suite.score(
        loaded, batch_size=batch_size, device=where, bf16=bf16, name=name, progress=progress
    )


class BlimpSuite:
    """BLiMP pairs tokenized once, to score many models that share a tokenizer.

    One :func:`blimp` call makes one and drops it. The trainer's BLiMP hook, the acquisition
    curve and the experiment keep theirs, so that scoring another checkpoint costs only its
    forward passes, not reading and tokenizing the pairs again.

    Args:
        paradigms: the pairs (:func:`l2t.eval.data.load_blimp`).
        tokenizer: any form :meth:`ScoringTokenizer.from_any` takes.
        data: where the pairs came from, for the report.
        limit: how many pairs of each paradigm were taken, for the report.

    """

    def __init__(
        self,
        paradigms: Sequence[Paradigm],
        tokenizer: Any,
        *,
        data: str | os.PathLike[str] | None = None,
        limit: int | None = None,
    ) -> None:
        self.paradigms = list(paradigms)
        self.tokenizer = ScoringTokenizer.from_any(tokenizer)
        self.data = data
        self.limit = limit
        self.sequences, self.keys = pair_requests(self.tokenizer, self.paradigms)

    @classmethod
    def load(
        cls,
        tokenizer: Any,
        data: str | os.PathLike[str] | None = None,
        *,
        paradigms: Sequence[str] | str | None = None,
        limit: int | None = None,
    ) -> BlimpSuite:
        """Reads BLiMP (as :func:`blimp` does) and tokenizes its pairs."""
        resolved = _resolve_data(data)
        chosen = load_blimp(resolved, paradigms=paradigms, limit=limit)
        return cls(chosen, tokenizer, data=resolved, limit=limit)

    def score(
        self,
        model: Any,
        *,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
        name: str | None = None,
        progress: bool | None = False,
    ) -> BlimpReport:
        """The :class:`~l2t.eval.report.BlimpReport` of `model` (arguments as :func:`blimp`'s).

        The model must use this suite's tokenizer: its ids are what is scored.
        """
        loaded, _, where = prepare(model, self.tokenizer, device=device, bf16=bf16)
        show = progress if progress is not None else sys.stderr.isatty()
        scores = score_sequences(
            loaded.module,
            self.sequences,
            batch_size=batch_size,
            device=where,
            bf16=bf16,
            pad_id=self.tokenizer.prefix_id,
            on_batch=_progress_printer(f"BLiMP {loaded.name}") if show else None,
        )
        pairs = [
            PairScore(
                paradigm, pair_id, float(scores.values[2 * i]), float(scores.values[2 * i + 1])
            )
            for i, (paradigm, pair_id) in enumerate(self.keys)
        ]
        meta = _meta(
            loaded,
            self.tokenizer,
            self.paradigms,
            self.data,
            self.limit,
            batch_size,
            where,
            bf16,
            scores,
            len(self.keys),
        )
        labels = {p.name: (p.field, p.phenomenon) for p in self.paradigms}
        return BlimpReport.from_scores(name or loaded.name, pairs, labels, meta)


def _meta(
    loaded: LoadedModel,
    tok: ScoringTokenizer,
    chosen: Sequence[Paradigm],
    data: Any,
    limit: int | None,
    batch_size: int,
    where: torch.device,
    bf16: bool | None,
    scores: Any,
    n_pairs: int,
) -> dict[str, Any]:
    """How the report was made: enough to rerun it and to judge its speed."""
    autocast = bf16 if bf16 is not None else where.type == "cuda"
    weights = next(loaded.module.parameters()).dtype
    dtype = "bfloat16" if autocast or weights == torch.bfloat16 else str(weights).split(".")[-1]
    return {
        "data": None if data is None else str(data),
        "paradigms": len(chosen),
        "limit": limit,
        "model_kind": loaded.kind,
        "model_path": loaded.path,
        "step": loaded.step,
        "tokens": loaded.tokens,
        "prefix_token_id": tok.prefix_id,
        "conditioning": CONDITIONING,
        "device": torch.cuda.get_device_name(where) if where.type == "cuda" else "cpu",
        "dtype": dtype,
        "batch_size": batch_size,
        "sentences_scored": scores.unique,
        "tokens_scored": scores.tokens,
        "seconds": scores.seconds,
        "pairs_per_s": n_pairs / scores.seconds if scores.seconds else None,
        "l2t": __version__,
        "torch": torch.__version__,
    }
