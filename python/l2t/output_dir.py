"""The output directory of ``l2t generate``: its layout, and how many writers share it safely.

Layout (the directory is a Parquet dataset as it stands: ``pyarrow.dataset(DIR)``, DuckDB,
Spark and ``datasets.load_dataset("parquet", data_dir=DIR)`` skip ``__l2t__``, the first three
for its leading underscore, ``datasets`` because it is a dunder name)::

    DIR/part-000000.parquet ...                   the parts (or .bin / .jsonl)
    DIR/__l2t__/manifest.json                     written once the whole set is made and checked
    DIR/__l2t__/tokenizer.json                    the tokenizer the ids belong to
    DIR/__l2t__/progress/shard-00001-of-00004.json  each writer's own progress (a manifest)
    DIR/__l2t__/locks/shard-00001-of-00004.lock   held (flock) by the writer of that shard
    DIR/__l2t__/tmp/part-000005.parquet.shard-00001-of-00004.tmp  files being written

Many writers: every run is one shard of a set (a single run is shard 0 of 1). A run holds its
shard's lock for as long as it runs; the kernel releases it when the process dies, so a lock
that can be taken proves its last holder gone. A second run of the same shard fails at once,
naming the holder. Every file a run writes is first written under ``tmp/`` with the run's shard
in its name, then renamed, so writers never touch each other's temporaries; a run removes its
own stale ones, and those of a shard whose lock it can take. Starting runs pass through a short
*admission* (an exclusive lock) in which they check the directory's identity, clean up, and
write their progress file before any part: every part on disk belongs to a run whose
configuration is recorded. The manifest of the set is written, atomically, by whichever shard
finds the set complete, after checking every part's size and SHA-256.

Crash safety: a part appears under its final name only when whole; a part on disk that a run's
progress does not list (a kill between the rename and the progress write) is made again, byte
for byte the same, so a rerun of the same command resumes from any point.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from l2t import _l2t, manifest, shards
from l2t.faults import fault_point

META = "__l2t__"
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
# Names of the layout before __l2t__ (l2t 0.1: everything beside the parts), still read.
LEGACY_MANIFEST = "manifest.json"
LEGACY_PARTIAL_GLOB = "manifest-*-of-*.json"


def shard_tag(index: int, count: int) -> str:
    """The name of one writer of a set: ``shard-00001-of-00004``."""
    return f"shard-{index:05d}-of-{count:05d}"


def parse_shard_tag(tag: str) -> tuple[int, int] | None:
    """(index, count) of a shard tag, or None when `tag` is not one."""
    parts = tag.split("-")
    if len(parts) == 4 and parts[0] == "shard" and parts[2] == "of":
        with contextlib.suppress(ValueError):
            return int(parts[1]), int(parts[3])
    return None


def is_part(name: str) -> bool:
    """Whether `name` is a part file's name (:func:`l2t.shards.part_name`)."""
    return name.startswith(shards.PART_PREFIX) and name.endswith(tuple(shards.EXTENSIONS.values()))


def find_manifest(directory: Path) -> Path | None:
    """The complete manifest of a dataset directory, in this layout or the legacy one."""
    for path in (directory / META / MANIFEST, directory / LEGACY_MANIFEST):
        if path.is_file():
            return path
    return None


def progress_files(directory: Path) -> list[Path]:
    """The writers' progress files (the legacy layout's partial manifests too), sorted."""
    found = sorted((directory / META / "progress").glob("shard-*-of-*.json"))
    return found or sorted(directory.glob(LEGACY_PARTIAL_GLOB))


def write_atomic(path: Path, text: str, tmp: Path) -> None:
    """Writes `text` to `tmp`, syncs it and renames it over `path`; no `tmp` survives a failure."""
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _lock_file(f: IO[str], *, wait: bool) -> bool:
    """Locks the open file `f` exclusively: ``flock`` on POSIX, ``msvcrt.locking`` on Windows.

    Both locks belong to the open file and end with the process, which is what proves a writer
    gone. Returns False when another holder has it and `wait` is False.
    """
    busy = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK)
    if os.name == "nt":
        import msvcrt

        while True:
            try:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                return True
            except OSError as e:
                if e.errno not in busy:
                    raise
                if not wait:
                    return False
                time.sleep(0.05)
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in busy and not wait:
            return False
        raise
    return True


class _Lock:
    """An exclusive lock on a file, whose content names its holder (host, pid, since)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Takes the lock if no other process (or open file) holds it; never waits."""
        return self._acquire(wait=False)

    def is_free(self) -> bool:
        """Whether no process holds the lock now (its last holder, if any, is gone)."""
        if not self.try_acquire():
            return False
        self.release()
        return True

    def acquire_waiting(self) -> None:
        """Takes the lock, waiting for its holder (for short critical sections only)."""
        self._acquire(wait=True)

    def _acquire(self, *, wait: bool) -> bool:
        f = self.path.open("a+", encoding="utf-8")
        try:
            taken = _lock_file(f, wait=wait)
        except BaseException:
            f.close()
            raise
        if not taken:
            f.close()
            return False
        self._file = f
        return True

    def mark_holder(self) -> None:
        """Writes who holds the lock into it, for the message another writer will show."""
        assert self._file is not None
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": _now()}
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(holder) + "\n")
        self._file.flush()

    def release(self) -> None:
        """Releases the lock (closing the file releases it too, as does the process's death)."""
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return f"host {info['host']}, pid {info['pid']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class PartCheck:
    """A listed part that is not as the manifest says, and why."""

    file: str
    problem: str


def check_parts(directory: Path, parts: list[dict[str, Any]]) -> list[PartCheck]:
    """Re-reads every listed part: missing, a different size or a different SHA-256."""
    problems = []
    for part in parts:
        path = directory / part["file"]
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(PartCheck(part["file"], "missing"))
            continue
        if size != part["bytes"]:
            problems.append(PartCheck(part["file"], f"{size} bytes, listed as {part['bytes']}"))
        elif manifest.file_sha256(path) != part["sha256"]:
            problems.append(PartCheck(part["file"], "SHA-256 differs from the manifest"))
    return problems


class OutputDirectory:
    """One writer's view of an output directory: its shard lock, temporaries and progress.

    Use as a context manager around the whole run: entering admits the writer (see the module
    docstring), leaving releases its lock.
    """

    def __init__(self, path: Path, shard: tuple[int, int]) -> None:
        self.path = path
        self.meta = path / META
        self.shard = shard
        self.tag = shard_tag(*shard)
        self.progress_path = self.meta / "progress" / f"{self.tag}.json"
        self.manifest_path = self.meta / MANIFEST
        self.tokenizer_path = self.meta / TOKENIZER
        self._lock = _Lock(self.meta / "locks" / f"{self.tag}.lock")

    # -- admission --------------------------------------------------------------------------

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Holds the admission lock, and takes this shard's, while the caller prepares.

        Raises OutputError, naming the holder, when another run has this shard.
        """
        try:
            if self.path.exists() and not self.path.is_dir():
                raise _l2t.OutputError(f"{self.path} exists and is not a directory")
            for sub in ("locks", "progress", "tmp"):
                (self.meta / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _l2t.OutputError(f"cannot create the output directory {self.path}: {e}") from e
        gate = _Lock(self.meta / "locks" / "admission.lock")
        gate.acquire_waiting()
        try:
            if not self._lock.try_acquire():
                raise _l2t.OutputError(
                    f"{self.path}: {self._describe_shard()} is being written by another l2t "
                    f"generate ({self._lock.holder()}); wait for it to finish or stop it"
                )
            self._lock.mark_holder()
            yield
        except BaseException:
            self._lock.release()
            raise
        finally:
            gate.release()

    def release(self) -> None:
        """Lets another run take this shard."""
        self._lock.release()

    def _describe_shard(self) -> str:
        index, count = self.shard
        return "this directory" if count == 1 else f"shard {index} of {count}"

    def busy_writers(self) -> list[str]:
        """Other shards whose lock is held now (call during admission), described."""
        busy = []
        for path in sorted((self.meta / "locks").glob("shard-*.lock")):
            if path == self._lock.path:
                continue
            other = _Lock(path)
            if not other.is_free():
                busy.append(f"{path.stem} ({other.holder()})")
        return busy

    def remove_stale_temporaries(self) -> None:
        """Removes this shard's temporaries, and those of shards whose writer is gone.

        Call during admission: no writer can start meanwhile, so a free lock stays free.
        """
        for tmp in sorted((self.meta / "tmp").glob("*.tmp")):
            tag = tmp.name.rsplit(".", 2)[-2] if tmp.name.count(".") >= 2 else ""
            shard = parse_shard_tag(tag)
            if (
                shard is None
                or shard == self.shard
                or _Lock(self.meta / "locks" / f"{tag}.lock").is_free()
            ):
                tmp.unlink(missing_ok=True)  # nobody will finish it

    def clear(self) -> None:
        """Removes every file of l2t's in the directory but the locks (for ``overwrite``)."""
        for path in self.path.iterdir():
            if path.is_file() and (
                is_part(path.name)
                or path.name in (LEGACY_MANIFEST, TOKENIZER)
                or path.match(LEGACY_PARTIAL_GLOB)
                or (path.name.startswith(".") and path.name.endswith(".tmp"))
            ):
                path.unlink()
        for sub in ("progress", "tmp"):
            for path in (self.meta / sub).iterdir():
                path.unlink()
        for path in (self.manifest_path, self.tokenizer_path):
            path.unlink(missing_ok=True)

    # -- files --------------------------------------------------------------------------------

    def temporary(self, name: str) -> Path:
        """Where this writer writes the file `name` before renaming it into place."""
        return self.meta / "tmp" / f"{name}.{self.tag}.tmp"

    def write_json(self, path: Path, value: Any) -> None:
        """Writes a manifest (or other JSON) atomically through this writer's own temporary."""
        write_atomic(path, manifest.to_json(value), self.temporary(path.name))

    def write_text(self, path: Path, text: str) -> None:
        """Writes text atomically through this writer's own temporary file."""
        write_atomic(path, text, self.temporary(path.name))

    def legacy_files(self) -> list[str]:
        """Files of the layout before ``__l2t__`` (refused as a place to write)."""
        names = [LEGACY_MANIFEST] if (self.path / LEGACY_MANIFEST).is_file() else []
        return names + [p.name for p in sorted(self.path.glob(LEGACY_PARTIAL_GLOB))]

    def unrecorded_parts(self) -> list[str]:
        """Part files in a directory that holds no record of l2t's (another tool's data)."""
        if any((self.meta / "progress").iterdir()) or self.manifest_path.exists():
            return []
        return sorted(p.name for p in self.path.iterdir() if is_part(p.name))

    # -- the set ---------------------------------------------------------------------------

    def complete_set(self) -> dict[str, Any] | None:
        """Writes the set's manifest when every shard of this run's set has finished.

        Returns the manifest, or None while some shard is still missing or unfinished. The
        parts are checked (size and SHA-256) first; a part that differs is an OutputError.
        """
        count = self.shard[1]
        found = sorted((self.meta / "progress").glob(f"shard-*-of-{count:05d}.json"))
        merged = merge_progress(self.path, [manifest.read_manifest(p) for p in found], found)
        if merged is None:
            return None
        fault_point("before-manifest")
        self.write_json(self.manifest_path, merged)
        return merged


def merge_progress(
    directory: Path, progress: list[dict[str, Any]], paths: list[Path]
) -> dict[str, Any] | None:
    """The manifest of a set from its shards' progress, checked; None while it is unfinished.

    Raises OutputError when the shards disagree, do not cover the input, or a part is not as
    its shard recorded it.
    """
    if not progress:
        return None
    count = _shard_of(progress[0])[1]
    identity = manifest.identity_of(progress[0])
    for path, m in zip(paths, progress, strict=True):
        if _shard_of(m)[1] != count or manifest.identity_of(m) != identity:
            raise _l2t.OutputError(
                f"{path}: belongs to another run "
                f"({manifest.describe_difference(identity, manifest.identity_of(m))} differ)"
            )
    finished = {_shard_of(m)[0] for m in progress if m["complete"]}
    if finished != set(range(count)):
        return None
    parts = [p for m in progress for p in m["parts"]]
    rows, per_part = progress[0]["input_rows"], identity["layout"]["shard_docs"]
    numbers = sorted(p["index"] for p in parts)
    if numbers != list(range(-(-rows // per_part))):
        raise _l2t.OutputError(
            f"{directory}: parts {numbers} do not cover the {rows} input rows exactly"
        )
    problems = check_parts(directory, parts)
    if problems:
        listed = "; ".join(f"{p.file}: {p.problem}" for p in problems)
        raise _l2t.OutputError(
            f"{directory}: parts differ from what their writers recorded ({listed}); rerun the "
            "shards that made them to remake them"
        )
    return manifest.build(
        identity,
        parts,
        complete=True,
        input_rows=rows,
        input_errors=progress[0]["input_errors"],
    )


def merge_directory(directory: Path) -> dict[str, Any]:
    """``l2t merge``: the manifest of a set whose shards ran apart and were copied together.

    Every shard's progress must be present and complete and share one identity, and every part
    must be as recorded; the manifest is written where its layout keeps it and returned.
    """
    paths = progress_files(directory)
    if not paths:
        raise _l2t.OutputError(
            f"{directory}: no shard progress files ({META}/progress/shard-*-of-*.json)"
        )
    progress = [manifest.read_manifest(p) for p in paths]
    count = _shard_of(progress[0])[1]
    missing = sorted(set(range(count)) - {_shard_of(m)[0] for m in progress})
    if missing:
        raise _l2t.OutputError(f"{directory}: shards {missing} of {count} have not run yet")
    merged = merge_progress(directory, progress, paths)
    if merged is None:
        unfinished = [str(p) for p, m in zip(paths, progress, strict=True) if not m["complete"]]
        raise _l2t.OutputError(f"unfinished shard runs: {', '.join(unfinished)}; rerun them")
    legacy = paths[0].parent == directory
    target = directory / LEGACY_MANIFEST if legacy else directory / META / MANIFEST
    write_atomic(target, manifest.to_json(merged), target.with_name(f".{target.name}.tmp"))
    return merged


def _shard_of(m: dict[str, Any]) -> tuple[int, int]:
    shard = m.get("shard")
    return (0, 1) if shard is None else (shard["index"], shard["count"])
