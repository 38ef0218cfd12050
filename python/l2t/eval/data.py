"""BLiMP's minimal pairs: read from its jsonl files (or the Hugging Face hub), checked, normalised.

BLiMP (Warstadt et al. 2020) has 67 paradigms of 1,000 pairs each, one ``<UID>.jsonl`` file per
paradigm. Every row carries ``sentence_good``, ``sentence_bad``, ``field``, ``linguistics_term``,
``UID`` and ``pairID``; the hub copy (``nyu-mll/blimp``, what lm-evaluation-harness downloads) has
the same rows with an integer ``pair_id``.

Two labels in the released data disagree with the paper, and the grouping here follows the
paper (the raw labels are kept on each :class:`Paradigm`):

- ``principle_A_case_2`` has field ``syntax/semantics``; every other paradigm writes
  ``syntax_semantics``. Both are ``syntax_semantics`` here, so there are 4 fields, not 5.
- ``animate_subject_passive`` and ``animate_subject_trans`` have phenomenon ``s-selection``; the
  paper (and BLiMP's own ``models_summary.jsonl``) counts them under ``argument_structure``.
  So there are the paper's 12 phenomena, not 13.

Seven pairs have the same good and bad sentence (2 in ``passive_1``, 5 in
``principle_A_case_2``); they stay in, and the scorer counts them right, as the harness does.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2t._l2t import ConfigError, InputError

HF_DATASET = "nyu-mll/blimp"

# The 67 paradigms (UIDs), as the hub names its configurations and the repository its files.
PARADIGMS: tuple[str, ...] = (
    "adjunct_island",
    "anaphor_gender_agreement",
    "anaphor_number_agreement",
    "animate_subject_passive",
    "animate_subject_trans",
    "causative",
    "complex_NP_island",
    "coordinate_structure_constraint_complex_left_branch",
    "coordinate_structure_constraint_object_extraction",
    "determiner_noun_agreement_1",
    "determiner_noun_agreement_2",
    "determiner_noun_agreement_irregular_1",
    "determiner_noun_agreement_irregular_2",
    "determiner_noun_agreement_with_adj_2",
    "determiner_noun_agreement_with_adj_irregular_1",
    "determiner_noun_agreement_with_adj_irregular_2",
    "determiner_noun_agreement_with_adjective_1",
    "distractor_agreement_relational_noun",
    "distractor_agreement_relative_clause",
    "drop_argument",
    "ellipsis_n_bar_1",
    "ellipsis_n_bar_2",
    "existential_there_object_raising",
    "existential_there_quantifiers_1",
    "existential_there_quantifiers_2",
    "existential_there_subject_raising",
    "expletive_it_object_raising",
    "inchoative",
    "intransitive",
    "irregular_past_participle_adjectives",
    "irregular_past_participle_verbs",
    "irregular_plural_subject_verb_agreement_1",
    "irregular_plural_subject_verb_agreement_2",
    "left_branch_island_echo_question",
    "left_branch_island_simple_question",
    "matrix_question_npi_licensor_present",
    "npi_present_1",
    "npi_present_2",
    "only_npi_licensor_present",
    "only_npi_scope",
    "passive_1",
    "passive_2",
    "principle_A_c_command",
    "principle_A_case_1",
    "principle_A_case_2",
    "principle_A_domain_1",
    "principle_A_domain_2",
    "principle_A_domain_3",
    "principle_A_reconstruction",
    "regular_plural_subject_verb_agreement_1",
    "regular_plural_subject_verb_agreement_2",
    "sentential_negation_npi_licensor_present",
    "sentential_negation_npi_scope",
    "sentential_subject_island",
    "superlative_quantifiers_1",
    "superlative_quantifiers_2",
    "tough_vs_raising_1",
    "tough_vs_raising_2",
    "transitive",
    "wh_island",
    "wh_questions_object_gap",
    "wh_questions_subject_gap",
    "wh_questions_subject_gap_long_distance",
    "wh_vs_that_no_gap",
    "wh_vs_that_no_gap_long_distance",
    "wh_vs_that_with_gap",
    "wh_vs_that_with_gap_long_distance",
)

# Released labels -> the paper's (see the module docstring).
FIELD_ALIASES = {"syntax/semantics": "syntax_semantics"}
PHENOMENON_ALIASES = {"s-selection": "argument_structure"}

_REQUIRED = ("sentence_good", "sentence_bad", "field", "linguistics_term")


@dataclass(frozen=True)
class Pair:
    """One minimal pair.

    Attributes:
        pair_id: the pair's id within its paradigm (``pairID``, or the hub's ``pair_id``), as text.
        good: the acceptable sentence.
        bad: the unacceptable one.

    """

    pair_id: str
    good: str
    bad: str


@dataclass(frozen=True)
class Paradigm:
    """A paradigm's pairs and labels.

    Attributes:
        name: the UID (``adjunct_island``, ...).
        field: ``syntax``, ``morphology``, ``semantics`` or ``syntax_semantics`` (normalised).
        phenomenon: one of the paper's 12 phenomena (``linguistics_term``, normalised).
        pairs: the pairs, in file order.
        source: where they were read from (a file path, or ``hf:nyu-mll/blimp/<UID>``).
        raw_field: ``field`` as the data writes it.
        raw_phenomenon: ``linguistics_term`` as the data writes it.

    """

    name: str
    field: str
    phenomenon: str
    pairs: tuple[Pair, ...]
    source: str
    raw_field: str = ""
    raw_phenomenon: str = ""


def _row_error(source: str, row: int, problem: str) -> InputError:
    return InputError(f"{source}, row {row}: {problem}")


def _check_row(record: Any, source: str, row: int) -> dict[str, Any]:
    """The row as a dict with the required text fields, or an InputError naming file and row."""
    if not isinstance(record, dict):
        raise _row_error(source, row, f"expected a JSON object, got {type(record).__name__}")
    for key in _REQUIRED:
        value = record.get(key)
        if not isinstance(value, str):
            raise _row_error(source, row, f"{key!r} must be a string, not {value!r}")
        if key.startswith("sentence") and not value.strip():
            raise _row_error(source, row, f"{key!r} is empty")
    return record


def paradigm_from_rows(
    name: str, rows: Iterable[tuple[int, Any]], source: str, limit: int | None = None
) -> Paradigm:
    """A :class:`Paradigm` from its numbered rows, checked and normalised.

    Args:
        name: the paradigm's UID.
        rows: ``(row number, record)`` pairs (1-based, for messages).
        source: the file (or hub config) the rows came from, for messages.
        limit: keep only the first `limit` pairs.

    Raises:
        InputError: a row that is not an object, lacks a sentence or label, or whose ``UID``,
            ``field`` or ``linguistics_term`` differ from the paradigm's first row.

    """
    pairs: list[Pair] = []
    labels: tuple[str, str] | None = None
    for row, record in rows:
        if limit is not None and len(pairs) >= limit:
            break
        rec = _check_row(record, source, row)
        uid = rec.get("UID", name)
        if uid != name:
            raise _row_error(source, row, f"UID {uid!r} in the file of paradigm {name!r}")
        these = (rec["field"], rec["linguistics_term"])
        if labels is None:
            labels = these
        elif these != labels:
            raise _row_error(source, row, f"labels {these} differ from the first row's {labels}")
        pair_id = rec.get("pairID", rec.get("pair_id", len(pairs)))
        pairs.append(Pair(str(pair_id), rec["sentence_good"], rec["sentence_bad"]))
    if labels is None:
        raise InputError(f"{source}: no pairs")
    raw_field, raw_phenomenon = labels
    return Paradigm(
        name=name,
        field=FIELD_ALIASES.get(raw_field, raw_field),
        phenomenon=PHENOMENON_ALIASES.get(raw_phenomenon, raw_phenomenon),
        pairs=tuple(pairs),
        source=source,
        raw_field=raw_field,
        raw_phenomenon=raw_phenomenon,
    )


def _jsonl_rows(path: Path) -> Iterable[tuple[int, Any]]:
    """``(line number, record)`` of a jsonl file; blank lines skipped, bad JSON an InputError."""
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as e:
                    raise _row_error(str(path), number, f"not JSON: {e}") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text: {e}") from e


def _data_dir(path: Path) -> Path:
    """The directory holding the jsonl files: `path`, or its ``data/`` (a checkout of the repo)."""
    if not path.is_dir():
        raise InputError(f"BLiMP data directory not found: {path}")
    if not any(path.glob("*.jsonl")) and (path / "data").is_dir():
        path = path / "data"
    if not any(path.glob("*.jsonl")):
        raise InputError(f"no BLiMP .jsonl files in {path}")
    return path


def _select(available: Sequence[str], paradigms: Sequence[str] | str | None) -> list[str]:
    if paradigms is None:
        return list(available)
    wanted = [paradigms] if isinstance(paradigms, str) else list(paradigms)
    unknown = [p for p in wanted if p not in available]
    if unknown:
        raise ConfigError(f"unknown BLiMP paradigms {unknown}; known: {sorted(available)}")
    return sorted(set(wanted), key=wanted.index)


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, not {limit!r}")


def load_blimp(
    data: str | os.PathLike[str],
    *,
    paradigms: Sequence[str] | str | None = None,
    limit: int | None = None,
) -> list[Paradigm]:
    """BLiMP's paradigms, sorted by name.

    Args:
        data: a directory of ``<UID>.jsonl`` files (or a checkout of the BLiMP repository, whose
            ``data/`` holds them), or ``"hf"`` for the hub's ``nyu-mll/blimp`` (needs the
            ``datasets`` package and network or a cache).
        paradigms: only these paradigms (UIDs); None: every file (or all 67 from the hub).
        limit: the first `limit` pairs of each paradigm (None: all). The same pairs every time.

    Returns:
        The paradigms.

    Raises:
        InputError: a missing directory, no jsonl files, an unreadable or malformed row (the
            message names the file and row).
        ConfigError: an unknown paradigm, a bad limit, or ``"hf"`` without ``datasets``.

    """
    _check_limit(limit)
    if str(data) == "hf":
        return _load_hf(_select(PARADIGMS, paradigms), limit)
    root = _data_dir(Path(data))
    files = {p.stem: p for p in sorted(root.glob("*.jsonl"))}
    return [
        paradigm_from_rows(name, _jsonl_rows(files[name]), str(files[name]), limit)
        for name in sorted(_select(sorted(files), paradigms))
    ]


def _load_hf(names: Sequence[str], limit: int | None) -> list[Paradigm]:
    try:
        datasets = importlib.import_module("datasets")  # optional: only for the hub copy
    except ImportError as e:
        raise ConfigError(
            "--data hf needs the `datasets` package (pip install datasets); or pass BLiMP's "
            "directory of jsonl files"
        ) from e
    out = []
    for name in sorted(names):
        split = "train" if limit is None else f"train[:{limit}]"
        rows = datasets.load_dataset(HF_DATASET, name, split=split)
        source = f"hf:{HF_DATASET}/{name}"
        out.append(paradigm_from_rows(name, enumerate(rows, 1), source, limit))
    return out
