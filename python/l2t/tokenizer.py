"""Tokenizer inputs: a path, a `tokenizers.Tokenizer`, a transformers fast tokenizer, or JSON.

Everything is reduced to the JSON text of a Hugging Face ``tokenizer.json``, which the Rust core
loads with the `tokenizers` crate: the same pipeline, so the same ids.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from l2t import _l2t

#: The largest id of any vocabulary: the core holds token ids as u32.
MAX_TOKEN_ID = 2**32 - 1
# Errors show longer strings (rarely paths: documents, likely) as their first characters.
_SHOWN_WHOLE = 200
_SHOWN_START = 60


def tokenizer_json(spec: Any) -> str:
    """The ``tokenizer.json`` text of a tokenizer given in any supported form.

    Accepted: a path to a ``tokenizer.json`` (or to a directory holding one), a
    ``tokenizers.Tokenizer``, a transformers fast tokenizer (its ``backend_tokenizer``), an
    :class:`l2t.Tokenizer`, or the JSON text itself (a string starting with ``{``).

    Raises:
        TokenizerError: a file that cannot be read, is empty, is not JSON or not a Hugging Face
            tokenizer, or a string that is neither such a path nor tokenizer JSON.
        TypeError: `spec` of no supported type.

    """
    if isinstance(spec, Tokenizer):
        return spec.json
    if hasattr(spec, "backend_tokenizer"):  # transformers PreTrainedTokenizerFast
        spec = spec.backend_tokenizer
    if hasattr(spec, "to_str") and callable(spec.to_str):  # tokenizers.Tokenizer
        return str(spec.to_str())
    if isinstance(spec, str) and spec.lstrip()[:1] in ("{", "["):
        # JSON text is never looked up as a path; the core parses it and names JSON errors.
        _check_is_tokenizer(spec, "the tokenizer JSON text", parse=False)
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return _read_tokenizer_file(spec)
    raise TypeError(
        "tokenizer must be a path to tokenizer.json, a tokenizers.Tokenizer, a transformers fast "
        f"tokenizer or the JSON text, not {type(spec).__name__}"
    )


def _read_tokenizer_file(spec: str | os.PathLike[str]) -> str:
    """The checked text of the tokenizer file `spec` names (a file, or a directory holding one)."""
    if isinstance(spec, str) and not spec.strip():
        # Path("") is the working directory: an empty string would read ./tokenizer.json.
        raise _l2t.TokenizerError(
            "the tokenizer is an empty string: give a path to tokenizer.json or its JSON text"
        )
    path = Path(spec)
    try:
        if path.is_dir():
            path = path / "tokenizer.json"
        # utf-8-sig: a byte order mark would hide the leading "{" that marks JSON text.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: an embedded NUL
        # strerror: the OSError's own text repeats the name, which may be a whole document.
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise _l2t.TokenizerError(
            f"tokenizer {shown(os.fspath(path))} is neither a readable tokenizer.json path nor "
            f"tokenizer JSON: {reason}"
        ) from None
    _check_is_tokenizer(text, f"tokenizer file {path}", parse=True)
    return text


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number"}
_NOT_AN_OBJECT = "JSON that is not an object"
_NO_MODEL = 'a JSON object without a "model" key'


def _check_is_tokenizer(text: str, subject: str, *, parse: bool) -> None:
    """Raises TokenizerError unless `text` looks like a Hugging Face ``tokenizer.json``.

    With `parse`, the JSON is parsed too, so that a syntax error names the file (the core would
    name only a line and column). Text passed in is only checked for an object with ``"model"``:
    parsing it again in Python would cost every engine built from it (DataLoader workers).
    """
    if not text.strip():
        raise _l2t.TokenizerError(f"{subject} is empty, not a tokenizer.json")
    problem = None
    if parse:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise _l2t.TokenizerError(
                f"{subject} is not valid JSON ({e}), not a tokenizer.json"
            ) from None
        if not isinstance(value, dict):
            problem = f"{_JSON_KINDS.get(type(value), 'a JSON value')}, not a JSON object"
        elif "model" not in value:
            problem = _NO_MODEL
    elif not text.lstrip().startswith("{"):
        problem = _NOT_AN_OBJECT
    elif '"model"' not in text:
        problem = _NO_MODEL
    if problem is not None:
        raise _l2t.TokenizerError(
            f"{subject} is {problem}: not a tokenizer.json (a Hugging Face tokenizer is a JSON "
            'object with a "model" key)'
        )


def shown(spec: str) -> str:
    """A path-like string as errors show it: whole if short and printable, else quoted.

    A long one is cut: a string given where a path belongs may be a whole document.
    """
    if len(spec) <= _SHOWN_WHOLE and spec.isprintable():
        return spec
    if len(spec) <= _SHOWN_START:
        return repr(spec)
    return f"{spec[:_SHOWN_START]!r}... ({len(spec)} characters)"


def first_bad_id(ids: Iterable[Any]) -> tuple[int, Any, int | None] | None:
    """The first of `ids` that is no token id of any vocabulary, or None.

    Returns its position, the value, and the value as an integer (None when it is not one).
    Slow (a Python loop): for explaining a failure, not for checking valid input.
    """
    for position, value in enumerate(ids):
        try:
            token_id = operator.index(value)
        except TypeError:
            return position, value, None
        if not 0 <= token_id <= MAX_TOKEN_ID:
            return position, value, token_id
    return None


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
    def disabled(self) -> list[str]:
        """Settings of the tokenizer file that l2t turns off (``"padding"``, ``"truncation"``).

        An example is encoded whole and then packed, so a file's fixed padding or truncation
        (BERT's pads and truncates to 128) would change the ids; the manifest records them.
        """
        return list(self._inner.disabled)

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
        """Exact ids of `text`; InputError if it is not a str of valid Unicode."""
        try:
            return self._inner.encode(text)
        except (UnicodeEncodeError, TypeError):
            raise _not_encodable(text) from None

    def encode_reference(self, text: str) -> list[int]:
        """Ids of `text` through the unmodified HF pipeline."""
        try:
            return self._inner.encode_reference(text)
        except (UnicodeEncodeError, TypeError):
            raise _not_encodable(text) from None

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens skipped; raises VocabError on an unknown id."""
        ids = list(ids)
        try:
            return self._inner.decode(ids)
        except (OverflowError, TypeError):
            # The core's conversion says neither which id nor where; find it.
            raise _bad_id(ids, self.vocab_size) from None

    def __reduce__(self) -> tuple[type[Tokenizer], tuple[str]]:
        return (Tokenizer, (self.json,))


def _not_encodable(text: Any) -> _l2t.InputError:
    """Why `text`, which the core could not take as a str, cannot be encoded."""
    if not isinstance(text, str):
        return _l2t.InputError(f"encode takes a str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return _l2t.InputError(
            f"the text holds a lone surrogate U+{ord(text[e.start]):04X} at position {e.start} "
            "(not valid Unicode, so it has no UTF-8 to tokenize)"
        )
    return _l2t.InputError("the text cannot be encoded")


def _bad_id(ids: list[Any], vocab_size: int) -> _l2t.InputError:
    """The error for the first of `ids` that is not an integer id in the vocabulary."""
    bad = first_bad_id(ids)
    if bad is None:
        return _l2t.InputError("the ids cannot be decoded")
    position, value, token_id = bad
    if token_id is None:
        return _l2t.InputError(
            f"ids[{position}] is {type(value).__name__}, not a token id (an integer)"
        )
    return _l2t.VocabError(
        f"token id {token_id} (ids[{position}]) is outside the vocabulary "
        f"(ids 0 to {vocab_size - 1})"
    )
