"""``manifest.json``: what a generated dataset is, where it came from, and what it holds.

A manifest has two halves. The *identity* (versions, engine configuration, tokenizer, input
files with sizes and hashes, how the stream is cut into parts) decides every output byte: a
rerun with the same identity resumes, any other identity is refused. The *contents* (parts with
their counts and hashes, skipped rows with reasons, totals) grow as parts complete; the file is
rewritten atomically after each part, so it always describes whole files only.

Nothing time- or machine-dependent goes in (no timings, thread counts or host names), so a
resumed run, a run on another machine, and the set of ``--num-shards`` runs all produce the
same manifest as one uninterrupted run. Where the files live, and who writes them when, is
:mod:`l2t.output_dir`'s business.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from l2t import _l2t

MANIFEST_VERSION = 1
SKIPS_KEPT_PER_PART = 100


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def to_json(value: Any) -> str:
    """The text of a manifest file.

    Every writer formats manifests here, so equal manifests are equal bytes whichever run (or
    ``l2t merge``) wrote them.
    """
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest from disk; :class:`l2t.OutputError` when it is not one of l2t's."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _l2t.OutputError(f"{path}: unreadable manifest: {e}") from e
    if not isinstance(value, dict) or value.get("l2t_manifest") != MANIFEST_VERSION:
        raise _l2t.OutputError(f"{path}: not an l2t manifest (version {MANIFEST_VERSION})")
    return value


def add_counts(total: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Adds the counters of `other` into `total` (nested dicts of numbers), returning `total`."""
    for key, value in other.items():
        if isinstance(value, dict):
            add_counts(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
    return total


def engine_counts(stats: dict[str, Any]) -> dict[str, Any]:
    """The engine's stats with its per-task list turned into a name-keyed mapping."""
    out = {k: v for k, v in stats.items() if k != "tasks"}
    out["tasks"] = {name: dict(counts) for name, counts in stats.get("tasks", [])}
    return out


def totals(parts: Iterable[dict[str, Any]], seq_len: int) -> dict[str, Any]:
    """Dataset totals from the part entries: counts, fill rate and the real L2T token share."""
    counts: dict[str, Any] = {}
    summary = {"parts": 0, "documents": 0, "rows": 0, "skipped_rows": 0}
    for part in parts:
        summary["parts"] += 1
        summary["documents"] += part["end_doc"] - part["first_doc"]
        summary["rows"] += part["rows"]
        summary["skipped_rows"] += part["skipped_rows"]
        add_counts(counts, part["counts"])
    tasks = counts.get("tasks", {})
    l2t_tokens = sum(t.get("tokens", 0) for t in tasks.values())
    raw_tokens = counts.get("raw_tokens", 0) - counts.get("raw_tokens_dropped", 0)
    out: dict[str, Any] = dict(summary)
    out["examples"] = sum(t.get("examples", 0) for t in tasks.values())
    out["l2t_tokens"] = l2t_tokens
    out["raw_tokens"] = raw_tokens
    output_tokens = l2t_tokens + raw_tokens
    out["l2t_token_share"] = round(l2t_tokens / output_tokens, 6) if output_tokens else 0.0
    slots = summary["rows"] * seq_len
    out["pad_tokens"] = counts.get("pad_tokens", 0)
    out["fill_rate"] = round(1 - out["pad_tokens"] / slots, 6) if slots else 0.0
    out["counts"] = counts
    return out


def build(
    identity: dict[str, Any],
    parts: list[dict[str, Any]],
    *,
    complete: bool,
    input_rows: int | None,
    input_errors: list[dict[str, Any]],
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The manifest document: identity, progress, parts in index order, totals."""
    ordered = sorted(parts, key=lambda p: p["index"])
    manifest: dict[str, Any] = {"l2t_manifest": MANIFEST_VERSION, "complete": complete}
    if shard is not None:
        manifest["shard"] = {"index": shard[0], "count": shard[1]}
    manifest.update(identity)
    manifest["input_rows"] = input_rows
    manifest["input_errors"] = input_errors
    manifest["totals"] = totals(ordered, identity["config"]["seq_len"])
    manifest["parts"] = ordered
    return manifest


IDENTITY_KEYS = ("versions", "config", "tokenizer", "layout", "inputs")


def identity_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The part of a manifest that decides the output bytes."""
    return {k: manifest.get(k) for k in IDENTITY_KEYS}


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short account of how two identities differ, for the refusal message."""
    diffs = []
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            diffs.append(f"{key} ({', '.join(changed)})")
        else:
            diffs.append(key)
    return "; ".join(diffs) or "nothing"
