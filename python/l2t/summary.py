"""``l2t inspect``: what a generated dataset holds, from its manifest and a few decoded rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from l2t import _l2t, manifest, output_dir, shards
from l2t.tasks import task_name
from l2t.tokenizer import Tokenizer


def load_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The dataset's manifest; while shard runs are unfinished, their progress combined.

    The progress files are combined in memory (nothing is written); the result says
    ``"complete": false`` unless every shard run has finished. Reads the current layout
    (``__l2t__/``) and the earlier one (manifests beside the parts).
    """
    d = Path(directory)
    found = output_dir.find_manifest(d)
    if found is not None:
        return manifest.read_manifest(found)
    partials = [manifest.read_manifest(p) for p in output_dir.progress_files(d)]
    if not partials:
        raise _l2t.OutputError(f"{d}: no l2t manifest (not a directory made by l2t generate?)")
    shard = partials[0].get("shard") or {"count": 1}
    done = {(m.get("shard") or {"index": 0})["index"] for m in partials if m["complete"]}
    return manifest.build(
        manifest.identity_of(partials[0]),
        [p for m in partials for p in m["parts"]],
        complete=len(done) == shard["count"],
        input_rows=partials[0]["input_rows"],
        input_errors=partials[0]["input_errors"],
    )


def tokenizer_path(directory: Path) -> Path:
    """The dataset's copy of its tokenizer (current layout, else the earlier one)."""
    current = directory / output_dir.META / output_dir.TOKENIZER
    return current if current.exists() else directory / output_dir.TOKENIZER


def verify(directory: str | os.PathLike[str]) -> list[output_dir.PartCheck]:
    """Every listed part re-read against the manifest (size, SHA-256); Parquet pages checked.

    Returns the parts that differ (an empty list: the dataset is as its manifest says).
    """
    d = Path(directory)
    m = load_manifest(d)
    problems = output_dir.check_parts(d, m["parts"])
    if m["layout"]["format"] == "parquet":
        bad = {p.file for p in problems}
        for part in m["parts"]:
            if part["file"] not in bad:
                try:
                    shards.read_parquet_rows(d / part["file"])
                except _l2t.SourceError as e:
                    problems.append(output_dir.PartCheck(part["file"], str(e)))
    return problems


def sample_rows(directory: str | os.PathLike[str], count: int = 2) -> list[list[dict[str, Any]]]:
    """The first `count` rows of the first part, as lists of decoded segments.

    Each segment is ``{"task", "doc", "tokens", "text"}``; for ``.bin`` parts (no boundaries) a
    row is one segment of task ``"?"``, and for JSONL parts a row is one record.
    """
    d = Path(directory)
    m = load_manifest(d)
    if not m["parts"] or count <= 0:
        return []
    path = d / m["parts"][0]["file"]
    fmt = m["layout"]["format"]
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            records = [json.loads(line) for _, line in zip(range(count), f, strict=False)]
        return [[{"task": r["task"], "doc": r["doc"], "text": r["text"]}] for r in records]
    tokenizer = Tokenizer(tokenizer_path(d))
    if fmt == "bin":
        rows = shards.read_bin(path)[:count]
        return [
            [{"task": "?", "doc": None, "tokens": len(r), "text": _decode(tokenizer, r)}]
            for r in rows
        ]
    table = shards.read_parquet_rows(path).slice(0, count).to_pylist()
    out = []
    for row in table:
        segments, start = [], 0
        for length, task, doc in zip(
            row["segment_lengths"], row["segment_tasks"], row["segment_docs"], strict=True
        ):
            ids = row["input_ids"][start : start + length]
            segments.append(
                {
                    "task": task_name(task),
                    "doc": doc,
                    "tokens": length,
                    "text": _decode(tokenizer, ids),
                }
            )
            start += length
        out.append(segments)
    return out


def _decode(tokenizer: Tokenizer, ids: Any) -> str:
    return tokenizer.decode([int(i) for i in ids])


def _shorten(text: str, limit: int) -> str:
    text = text.replace("\n", "\\n")
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [...] {text[-half:]}"


def render(directory: str | os.PathLike[str], *, rows: int = 2, width: int = 160) -> str:
    """A human-readable summary of a generated dataset."""
    m = load_manifest(directory)
    t = m["totals"]
    cfg, lay = m["config"], m["layout"]
    inputs = m["inputs"]
    lines = [
        f"{directory}: {'complete' if m['complete'] else 'INCOMPLETE'} l2t dataset "
        f"(l2t {m['versions']['l2t']}, profile {cfg['profile']}, seed {cfg['seed']}, "
        f"format {lay['format']})",
        f"inputs: {len(inputs)} ({sum(i.get('bytes', 0) for i in inputs) / 1e6:,.1f} MB), "
        f"{t['documents']:,} documents in {t['parts']} parts, {t['skipped_rows']:,} rows skipped",
        f"output: {t['rows']:,} rows of {cfg['seq_len']}, fill rate {t['fill_rate']:.2%}, "
        f"{t['examples']:,} examples",
        f"tokens: {t['l2t_tokens']:,} L2T + {t['raw_tokens']:,} raw; L2T share "
        f"{t['l2t_token_share']:.1%} (mixing {cfg['mixing']}, raw_ratio {cfg['raw_ratio']})",
        "",
        f"{'task':<14}{'documents':>11}{'examples':>11}{'tokens':>14}{'share':>8}",
    ]
    tasks = t["counts"].get("tasks", {})
    for name, c in tasks.items():
        if c.get("documents") or c.get("examples"):
            share = c["tokens"] / t["l2t_tokens"] if t["l2t_tokens"] else 0.0
            lines.append(
                f"{name:<14}{c['documents']:>11,}{c['examples']:>11,}{c['tokens']:>14,}{share:>8.1%}"
            )
    if m["input_errors"]:
        lines += ["", "input errors:"] + [
            f"  {e['path']}: {e['reason']}" for e in m["input_errors"]
        ]
    for i, segments in enumerate(sample_rows(directory, rows)):
        lines += ["", f"--- row {i} ---"]
        for s in segments:
            head = f"[{s['task']} doc {s['doc']}" + (
                f", {s['tokens']} tokens]" if "tokens" in s else "]"
            )
            lines.append(f"{head} {_shorten(s['text'], width)}")
    return "\n".join(lines)
