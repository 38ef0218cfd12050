"""``l2t experiment compare``: the book split, the config's guards, the aggregation, and the
whole comparison end to end on the CPU smoke recipe (the tiny model, fixture data)."""

from __future__ import annotations

import json
import statistics

import pytest

pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")

import l2t
from conftest import FIXTURES, ROOT, make_corpus
from l2t.corpus import documents_from_text
from l2t.experiment import ExperimentConfig, RunResult, aggregate, compare, split_books

# A few made-up BLiMP-format pairs (the fixture of tests/test_eval.py).
BLIMP_FIXTURE = FIXTURES / "blimp-mini"


def write_books(directory, n: int) -> list[str]:
    """`n` books of made-up paragraphs, each book's text recognisable by its first words."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        paragraphs = [
            f"Book{i} paragraph {j}. " + p.replace("\n", " ")  # one line each, as the novels
            for j, p in enumerate(make_corpus(30, i))
        ]
        name = f"Author{i}_Title_{1900 + i}.txt"
        # A BOM and CRLF line ends, as the shared novels have them.
        (directory / name).write_text("\ufeff" + "\r\n\r\n".join(paragraphs), encoding="utf-8")
        names.append(name)
    return names


def read_texts(path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


# -- preparing the documents -------------------------------------------------------------------


def test_books_are_split_whole_and_the_same_every_time(tmp_path):
    names = write_books(tmp_path / "books", 6)
    first = split_books(tmp_path / "books", tmp_path / "a", holdout=2, doc_chars=800)
    again = split_books(tmp_path / "books", tmp_path / "b", holdout=2, doc_chars=800)
    assert sorted(first.train_books + first.val_books) == sorted(names)
    assert len(first.val_books) == 2 and first.val_books == again.val_books
    train, val = read_texts(first.train), read_texts(first.val)
    assert train == read_texts(again.train)  # the shuffle is seeded
    held = {n.split("_")[0].removeprefix("Author") for n in first.val_books}
    # No book has text on both sides.
    assert all(not any(d.startswith(f"Book{b} ") for b in held) for d in train)
    assert all(any(d.startswith(f"Book{b} ") for b in held) for d in val)
    assert all("\r" not in d and "\ufeff" not in d for d in train + val)
    assert first.train_docs == len(train) and first.val_docs == len(val)
    # Shuffled: the documents of one book do not all come in a block.
    books_in_order = [d.split()[0] for d in train]
    assert books_in_order != sorted(books_in_order)


def test_a_byte_budget_takes_a_share_of_every_book(tmp_path):
    write_books(tmp_path / "books", 5)
    full = split_books(tmp_path / "books", tmp_path / "full", holdout=1, doc_chars=500)
    part = split_books(
        tmp_path / "books", tmp_path / "part", holdout=1, doc_chars=500,
        max_train_bytes=full.train_bytes // 3,
    )  # fmt: skip
    assert full.train_bytes // 3 <= part.train_bytes < full.train_bytes // 3 + 4 * 2000
    books = {d.split()[0] for d in read_texts(part.train)}
    assert books == {d.split()[0] for d in read_texts(full.train)}  # every book contributes


def test_books_without_blank_lines_are_still_cut_into_documents():
    # Some books put one paragraph per line with no blank line between paragraphs.
    lines = [f"Line {i} of a book that never leaves a blank line." for i in range(400)]
    docs = list(documents_from_text("\r\n".join(lines), target_chars=1000))
    assert len(docs) > 15 and all(len(d) < 1000 + 60 for d in docs)
    assert "\n".join(docs).split("\n") == lines  # every line kept, in order, none split


def test_too_few_books_are_refused(tmp_path):
    write_books(tmp_path / "books", 2)
    with pytest.raises(l2t.ConfigError, match="cannot hold out 2"):
        split_books(tmp_path / "books", tmp_path / "out", holdout=2)


# -- the config ----------------------------------------------------------------------------------


def base(**kw) -> dict:
    return {"out_dir": "x", "corpus": "c", "tokenizer": "t", "blimp_data": "b", **kw}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (base(arms=["raw", "l2t-everything"]), "unknown arm"),
        (base(arms=["raw", {"name": "raw", "raw_ratio": 0.2}]), "distinct"),
        (base(train={"seed": 3}), "sets \\['seed'\\] itself"),
        (base(seeds=[1, 1]), "seeds must be distinct"),
        (base(steps=5), "unknown experiment options"),
        (base(eval_every=0), "eval_every"),
    ],
)
def test_bad_configs_are_refused(values, message):
    with pytest.raises(l2t.ConfigError, match=message):
        ExperimentConfig.from_dict(values)


def test_recipes_are_valid():
    for recipe in sorted((ROOT / "recipes").glob("*.json")):
        cfg = ExperimentConfig.from_file(recipe)
        assert cfg.arm_list[0].name == "raw" and cfg.arm_list[0].raw_ratio == 1.0


# -- the aggregation -----------------------------------------------------------------------------


def result(arm: str, seed: int, blimp: float) -> RunResult:
    return RunResult(
        arm=arm, seed=seed, blimp=blimp, fields={"syntax": blimp}, phenomena={"island": blimp},
        pairs=10, val_loss=3.0, tokens=1000, tokens_per_s=100.0, wall_s=10.0,
    )  # fmt: skip


def test_aggregate_gives_mean_spread_and_paired_differences():
    runs = [result("raw", 0, 0.56), result("raw", 1, 0.57), result("raw", 2, 0.55)]
    runs += [result("l2t-disjoint", 0, 0.575), result("l2t-disjoint", 1, 0.569)]
    agg = aggregate(runs)
    raw = agg["arms"]["raw"]["blimp"]
    assert raw["mean"] == pytest.approx(0.56)
    assert raw["std"] == pytest.approx(statistics.stdev([0.56, 0.57, 0.55]))
    assert (raw["min"], raw["max"]) == (0.55, 0.57)
    paired = agg["vs_raw"]["l2t-disjoint"]
    # Seed 2 has no L2T run: only seeds with both arms are paired.
    assert paired["per_seed"] == pytest.approx({0: 0.015, 1: -0.001})
    assert paired["wins"] == 1
    assert paired["summary"]["mean"] == pytest.approx(0.007)


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
def test_smoke_recipe_end_to_end(tmp_path):
    write_books(tmp_path / "books", 5)
    overrides = {
        "out_dir": str(tmp_path / "experiment"),
        "corpus": str(tmp_path / "books"),
        "tokenizer": str(FIXTURES / "bpe-pydoc-2k.json"),
        "blimp_data": str(BLIMP_FIXTURE),
        "max_train_bytes": None,
    }
    cfg = ExperimentConfig.from_file(ROOT / "recipes" / "smoke-cpu.json", **overrides)
    report = compare(cfg, command="pytest")
    out = tmp_path / "experiment"
    data = json.loads((out / "report.json").read_text())
    runs = data["runs"]
    assert sorted((r["arm"], r["seed"]) for r in runs) == [
        ("l2t-disjoint", 0), ("l2t-disjoint", 1), ("raw", 0), ("raw", 1),
    ]  # fmt: skip
    steps, batch, seq = cfg.train["max_steps"], cfg.train["batch_size"], cfg.train["seq_len"]
    assert {r["tokens"] for r in runs} == {steps * batch * seq}  # the same budget in every arm
    for r in runs:
        # A curve point every eval_every steps, with the held-out loss and BLiMP.
        assert [p["step"] for p in r["curve"]] == [6, 12]
        assert all(0 <= p["blimp"] <= 1 and p["val_loss"] > 0 for p in r["curve"])
        assert 0 <= r["blimp"] <= 1 and r["fields"] and r["phenomena"]
    # The two arms saw different streams from the same documents.
    by_arm = {(r["arm"], r["seed"]): r for r in runs}
    assert by_arm["raw", 0]["val_loss"] != by_arm["l2t-disjoint", 0]["val_loss"]
    assert set(data["vs_raw"]["l2t-disjoint"]["per_seed"]) == {"0", "1"}
    text = report.read_text()
    assert "| raw |" in text and "| l2t-disjoint |" in text and "Paired difference" in text
    assert (out / "blimp_curve.png").stat().st_size > 0
    assert (out / "val_loss_curve.png").stat().st_size > 0
    assert (out / "curves" / "curve-phenomena.png").stat().st_size > 0
    curves = json.loads((out / "curves" / "curve.json").read_text())
    assert [len(r["points"]) for r in curves["runs"]] == [2, 2, 2, 2]

    # Rerunning completes nothing new: every run and score is reused as it is.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/checkpoints/*/state.pt")}
    compare(cfg)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    with pytest.raises(l2t.ConfigError, match="other settings"):
        compare(ExperimentConfig.from_dict({**cfg.to_dict(), "seeds": [0, 1, 2]}))


def test_a_parquet_corpus_runs_by_changing_the_config(tmp_path):
    # A FineWeb-style corpus: Parquet shards with metadata columns, here with the text in a
    # column of another name, and a held-out Parquet file read the same way.
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    docs = make_corpus(60, 7)
    shards = tmp_path / "corpus"
    shards.mkdir()
    for i in range(2):
        part = docs[i * 25 : (i + 1) * 25]
        table = pa.table(
            {
                "id": [f"doc-{i}-{j}" for j in range(len(part))],
                "url": [f"https://example.org/{i}/{j}" for j in range(len(part))],
                "content": part,
                "language_score": [0.9] * len(part),
            }
        )
        pq.write_table(table, shards / f"part-{i:05d}.parquet")
    held_out = tmp_path / "held-out.parquet"
    pq.write_table(pa.table({"id": ["v"] * 10, "content": docs[50:]}), held_out)

    recipe = json.loads((ROOT / "recipes" / "smoke-cpu.json").read_text())
    train = {**recipe["train"], "max_steps": 4, "data_options": {"text_field": "content"}}
    cfg = ExperimentConfig.from_file(
        ROOT / "recipes" / "smoke-cpu.json",
        out_dir=str(tmp_path / "experiment"),
        corpus=str(shards),
        val_data=str(held_out),
        tokenizer=str(FIXTURES / "bpe-pydoc-2k.json"),
        blimp_data=str(BLIMP_FIXTURE),
        seeds=[0],
        eval_every=2,
        max_train_bytes=None,
        train=train,
    )
    compare(cfg)
    data = json.loads((tmp_path / "experiment" / "report.json").read_text())
    assert not (tmp_path / "experiment" / "data").exists()  # used as it is: no book split
    tokens = {r["arm"]: r["tokens"] for r in data["runs"]}
    assert tokens == {"raw": 4 * 4 * 128, "l2t-disjoint": 4 * 4 * 128}
    for r in data["runs"]:
        assert [p["step"] for p in r["curve"]] == [2, 4]
        assert all(p["val_loss"] > 0 for p in r["curve"])  # the held-out Parquet was read

    # The book options do not apply to a source, and a book directory brings its own held-out
    # text: either mix-up is refused, not ignored, and before anything is written (the same
    # out_dir then takes a corrected config).
    elsewhere = {**cfg.to_dict(), "out_dir": str(tmp_path / "other")}
    with pytest.raises(l2t.ConfigError, match="max_train_bytes"):
        compare(ExperimentConfig.from_dict({**elsewhere, "max_train_bytes": 1000}))
    write_books(tmp_path / "books", 5)
    with pytest.raises(l2t.ConfigError, match="remove val_data"):
        compare(ExperimentConfig.from_dict({**elsewhere, "corpus": str(tmp_path / "books")}))
    assert not (tmp_path / "other").exists()
