"""What scoring needs from a tokenizer: plain ids of a text, and the id that stands in for context.

lm-evaluation-harness encodes a continuation with ``tokenizer.encode(text,
add_special_tokens=False)`` for causal models, and puts ``bos_token_id`` (or ``eos_token_id``
when there is no BOS) in front when the context is empty. :class:`ScoringTokenizer` is exactly
that pair of facts, over any tokenizer l2t meets:

- a transformers tokenizer (what the harness itself would load): its own ``__call__`` with
  ``add_special_tokens=False``, its ``bos_token_id`` and ``eos_token_id``;
- a ``tokenizer.json`` (a path, a directory without ``tokenizer_config.json``, the JSON text, a
  ``tokenizers.Tokenizer`` or an :class:`l2t.Tokenizer`, as an l2t run records it): the HF
  ``tokenizers`` pipeline with special tokens off, and the BOS/EOS that :class:`l2t.Tokenizer`
  finds, which are the ones :func:`l2t.train.export.export_hf` writes into
  ``tokenizer_config.json``, so a checkpoint and its export are conditioned alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from l2t._l2t import ConfigError
from l2t.tokenizer import Tokenizer, tokenizer_json


class ScoringTokenizer:
    """Batch encoding without special tokens, plus the prefix (BOS, else EOS) id.

    Args:
        encode_batch: texts -> their ids, no special tokens added.
        bos_id: the tokenizer's BOS id, if it has one.
        eos_id: its EOS id, if it has one.
        name: a description for reports.

    """

    def __init__(
        self,
        encode_batch: Callable[[list[str]], list[list[int]]],
        bos_id: int | None,
        eos_id: int | None,
        name: str = "",
    ) -> None:
        self._encode_batch = encode_batch
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.name = name

    @property
    def prefix_id(self) -> int:
        """The id scored continuations are conditioned on: BOS if there is one, else EOS."""
        if self.bos_id is not None:
            return int(self.bos_id)
        if self.eos_id is not None:
            return int(self.eos_id)
        raise ConfigError(
            f"tokenizer {self.name or ''} has neither a BOS nor an EOS token: nothing to condition "
            "an empty context on"
        )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids of each text, no special tokens added."""
        return [list(ids) for ids in self._encode_batch(list(texts))]

    @classmethod
    def from_any(cls, spec: Any) -> ScoringTokenizer:
        """A scoring tokenizer from any supported form (see the module docstring).

        A string that is neither JSON nor an existing path is taken as a transformers name
        (``AutoTokenizer.from_pretrained``).
        """
        if isinstance(spec, ScoringTokenizer):
            return spec
        if _is_transformers_tokenizer(spec):
            return cls.from_transformers(spec)
        if isinstance(spec, (str, os.PathLike)) and not str(spec).lstrip().startswith("{"):
            path = Path(spec)
            if path.is_dir() and (path / "tokenizer_config.json").is_file():
                return cls.from_transformers(_auto_tokenizer(str(path)))
            if not path.exists():
                return cls.from_transformers(_auto_tokenizer(str(spec)))
        return cls.from_tokenizer_json(tokenizer_json(spec))

    @classmethod
    def from_transformers(cls, tok: Any) -> ScoringTokenizer:
        """Wraps a transformers tokenizer as the harness uses it."""

        def encode_batch(texts: list[str]) -> list[list[int]]:
            return list(tok(texts, add_special_tokens=False)["input_ids"])

        name = getattr(tok, "name_or_path", "") or type(tok).__name__
        return cls(encode_batch, tok.bos_token_id, tok.eos_token_id, str(name))

    @classmethod
    def from_tokenizer_json(cls, text: str) -> ScoringTokenizer:
        """Wraps a ``tokenizer.json`` (its text) with l2t's BOS/EOS detection."""
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer.from_str(text)
        # Some tokenizer files pad or truncate (BERT's ships with both on): scoring wants neither.
        hf.no_padding()
        hf.no_truncation()
        l2t_tok = Tokenizer(text)

        def encode_batch(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]

        return cls(encode_batch, l2t_tok.bos_id, l2t_tok.eos_id, "tokenizer.json")


def _is_transformers_tokenizer(obj: Any) -> bool:
    return hasattr(obj, "bos_token_id") and hasattr(obj, "eos_token_id") and callable(obj)


def _auto_tokenizer(name: str, **kwargs: Any) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as e:  # pragma: no cover - transformers is a train/test dependency
        raise ConfigError(f"loading tokenizer {name!r} needs transformers") from e
    try:
        return AutoTokenizer.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a tokenizer from {name!r}: {e}") from e
