"""Tokenizer inputs: a path, a `tokenizers.Tokenizer`, a transformers fast tokenizer, or JSON.

Everything is reduced to the JSON text of a Hugging Face ``tokenizer.json``, which the Rust core
loads with the `tokenizers` crate: the same pipeline, so the same ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from l2t import _l2t


def tokenizer_json(spec: Any) -> str:
    """The ``tokenizer.json`` text of a tokenizer given in any supported form.

    Accepted: a path to a ``tokenizer.json`` (or to a directory holding one), a
    ``tokenizers.Tokenizer``, a transformers fast tokenizer (its ``backend_tokenizer``), an
    :class:`l2t.Tokenizer`, or the JSON text itself.
    """
    if isinstance(spec, Tokenizer):
        return spec.json
    if hasattr(spec, "backend_tokenizer"):  # transformers PreTrainedTokenizerFast
        spec = spec.backend_tokenizer
    if hasattr(spec, "to_str") and callable(spec.to_str):  # tokenizers.Tokenizer
        return str(spec.to_str())
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.is_dir():
            path = path / "tokenizer.json"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _l2t.TokenizerError(f"cannot read tokenizer file {path}: {e}") from e
    raise TypeError(
        "tokenizer must be a path to tokenizer.json, a tokenizers.Tokenizer, a transformers fast "
        f"tokenizer or the JSON text, not {type(spec).__name__}"
    )


class Tokenizer:
    """l2t's exact, cached encoder over a Hugging Face tokenizer.

    ``encode(text)`` equals ``tokenizers.Tokenizer.encode(text).ids`` (special tokens included)
    but runs through l2t's own word segmentation and word cache where that is proven exact
    (:attr:`fast_path` says which); ``encode_reference`` runs the plain HF pipeline.
    """

    def __init__(self, spec: Any) -> None:
        self.json = tokenizer_json(spec)
        self._inner = _l2t.Tokenizer(self.json)

    @property
    def fast_path(self) -> str:
        """``byte_level``, ``metaspace``, ``whitespace``, or ``hf`` (no fast path proven)."""
        return self._inner.fast_path

    @property
    def vocab_size(self) -> int:
        """Vocabulary size, added tokens included."""
        return self._inner.vocab_size

    @property
    def bos_id(self) -> int | None:
        """The id the post-processor puts first, if any."""
        return self._inner.bos_id

    @property
    def eos_id(self) -> int | None:
        """The end-of-sequence id l2t uses for EOS and padding, if it found one."""
        return self._inner.eos_id

    def encode(self, text: str) -> list[int]:
        """Exact ids of `text`."""
        return self._inner.encode(text)

    def encode_reference(self, text: str) -> list[int]:
        """Ids of `text` through the unmodified HF pipeline."""
        return self._inner.encode_reference(text)

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens skipped; raises VocabError on an unknown id."""
        return self._inner.decode(list(ids))

    def __reduce__(self) -> tuple[type[Tokenizer], tuple[str]]:
        return (Tokenizer, (self.json,))
