"""The streaming loader under a demanding user: repeated passes, resumes, exit, silent drops."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")

import l2t  # noqa: E402
from conftest import ROOT, make_corpus, write_jsonl  # noqa: E402
from l2t import DroppedExamplesWarning  # noqa: E402
from l2t.data import POSITION, L2TLoader, L2TStream  # noqa: E402
from l2t.sources import Documents  # noqa: E402

# Two workers on a two-core machine are the point of some tests, not a mistake.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

# 120 documents in units of 8: 15 units, so two workers get 8 and 7 and end at different times.
DOCS = make_corpus(120, seed=3)


@pytest.fixture
def make_stream(fixture_tokenizer):
    def make(**kw) -> L2TStream:
        kw.setdefault("seq_len", 512)
        kw.setdefault("batch_docs", 8)
        kw.setdefault("batch_size", 2)
        return L2TStream(Documents(kw.pop("docs", DOCS)), fixture_tokenizer, **kw)

    return make


def ids_of(items) -> list[tuple[int, ...]]:
    """Every row (input ids) of a sequence of items, in order."""
    out = []
    for item in items:
        ids = item["input_ids"]
        out += [tuple(row) for row in ids.reshape(-1, ids.shape[-1]).tolist()]
    return out


def take(iterable, n: int) -> list:
    it = iter(iterable)
    return [next(it) for _ in range(n)]


# -- every iter() is a whole pass, except the first after load_state_dict ----------------------


def test_each_iteration_of_a_stream_is_a_whole_pass(make_stream):
    s = make_stream(epochs=2)
    full = ids_of(s)
    assert len(full) > 20
    assert ids_of(s) == full
    take(s, 3)  # broken off
    assert ids_of(s) == full


def test_the_first_iteration_after_load_state_dict_resumes_and_only_it(make_stream):
    s = make_stream(epochs=2)
    batches = list(s)
    full = ids_of(batches)
    first_epoch = sum(1 for b in batches if b[POSITION][1] == 0)
    head = take(s, first_epoch + 2)  # into the second epoch
    state = json.loads(json.dumps(s.state_dict()))
    assert state["positions"]["0"][0] == 1
    resumed = make_stream(epochs=2)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state  # loaded, not yet iterated: the state is given back
    assert ids_of(head) + ids_of(resumed) == full
    assert ids_of(resumed) == full  # the position was consumed: a whole pass again

    broken = make_stream(epochs=2)
    broken.load_state_dict(state)
    assert ids_of(take(broken, 2)) == full[len(ids_of(head)) :][:4]
    assert ids_of(broken) == full  # consumed even though that iteration was broken off


def test_a_stream_state_after_a_finished_pass_starts_the_next_pass(make_stream):
    s = make_stream()
    full = ids_of(s)
    state = s.state_dict()
    assert state["positions"] == {}
    resumed = make_stream()
    resumed.load_state_dict(state)
    assert ids_of(resumed) == full


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_yields_every_epoch(make_stream, workers):
    loader = L2TLoader(make_stream(), num_workers=workers)
    passes = [ids_of(loader) for _ in range(3)]
    assert len(passes[0]) > 20
    assert passes[1] == passes[0] and passes[2] == passes[0]
    take(loader, 3)
    assert ids_of(loader) == passes[0]  # a broken-off loop does not shorten the next


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_state_at_the_end_of_an_epoch_resumes_with_the_next_whole_pass(
    make_stream, workers
):
    loader = L2TLoader(make_stream(), num_workers=workers)
    full = ids_of(loader)
    state = json.loads(json.dumps(loader.state_dict()))
    assert state["consumed"] == 0 and state["positions"] == {}
    resumed = L2TLoader(make_stream(), num_workers=workers)
    resumed.load_state_dict(state)
    assert ids_of(resumed) == full


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_loader_continues_once_then_makes_whole_passes(make_stream, workers):
    loader = L2TLoader(make_stream(), num_workers=workers)
    full = ids_of(loader)
    n = len(full) // 2 // 2 + 1  # batches of two rows: past the middle
    head = take(loader, n)
    state = loader.state_dict()
    resumed = L2TLoader(make_stream(), num_workers=workers)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    assert ids_of(head) + ids_of(resumed) == full
    assert ids_of(resumed) == full

    broken = L2TLoader(make_stream(), num_workers=workers)
    broken.load_state_dict(state)
    take(broken, 1)
    assert ids_of(broken) == full


def test_the_stream_under_a_plain_loader_with_workers_refuses_an_unusable_position(make_stream):
    s = make_stream()
    take(s, 2)
    state = s.state_dict()
    resumed = make_stream()
    resumed.load_state_dict(state)
    with pytest.raises(l2t.ConfigError, match=r"L2TLoader\.load_state_dict"):
        list(torch.utils.data.DataLoader(resumed, batch_size=None, num_workers=2))
    with pytest.raises(l2t.ConfigError, match="resumes from its own state"):
        iter(L2TLoader(resumed, num_workers=2))


# -- torchdata's StatefulDataLoader -----------------------------------------------------------


# torchdata 0.11 calls torch.set_vital, which newer torch deprecates.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_dataloader_resumes_exactly_and_repeats_whole_passes(make_stream, workers):
    stateful = pytest.importorskip("torchdata.stateful_dataloader", reason="torchdata missing")

    def loader():
        return stateful.StatefulDataLoader(make_stream(), batch_size=None, num_workers=workers)

    full = ids_of(loader())
    batches = len(full) // 2
    # Cut in the middle and near the end, where one worker has finished and the other not.
    for cut in (batches // 2, batches - 1):
        first = loader()
        head = take(first, cut)
        state = first.state_dict()
        resumed = loader()
        resumed.load_state_dict(state)
        assert ids_of(head) + ids_of(resumed) == full, f"cut at {cut}"
        assert ids_of(resumed) == full  # a second iteration after a finished one is whole

    finished = loader()
    assert ids_of(finished) == full
    state = finished.state_dict()
    after = loader()
    after.load_state_dict(state)
    assert ids_of(after) == full


# -- interpreter exit ---------------------------------------------------------------------------

EXIT_SCRIPT = """
# dill (which Hugging Face datasets imports) keeps __main__ alive until the interpreter wipes
# module globals at exit, so the unfinished iterators below are finalised after _l2t's are None.
import dill
from l2t.data import L2TLoader, L2TStream
from l2t.sources import Documents
docs, path, tok = {docs!r}, {path!r}, {tok!r}
by_lines = iter(L2TStream(path, tok, seq_len=512, batch_docs=8))
next(by_lines)
by_index = iter(L2TStream(Documents(docs), tok, seq_len=512, batch_docs=8))
next(by_index)
loader = iter(L2TLoader(L2TStream(path, tok, seq_len=512, batch_docs=8), batch_size=2))
next(loader)
print("took one of each")
"""


def test_an_unfinished_iterator_says_nothing_at_exit(tmp_path):
    pytest.importorskip("dill", reason="dill (a datasets dependency) sets the exit up")
    path = write_jsonl(tmp_path / "docs.jsonl", DOCS[:40])
    tok = str(ROOT / "tests" / "fixtures" / "bpe-pydoc-2k.json")
    script = EXIT_SCRIPT.format(docs=DOCS[:40], path=str(path), tok=tok)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "took one of each\n"
    assert done.stderr == ""


# -- drops made visible -------------------------------------------------------------------------


def test_stream_stats_add_up_the_engines_counters(make_stream, fixture_tokenizer):
    s = make_stream(seq_len=256, seed=5)
    assert s.stats["units"] == 0
    list(s)
    engine = l2t.Engine(fixture_tokenizer, seed=5, seq_len=256)
    made = too_long = rows = 0
    per_task: dict[str, int] = {}
    for u in range(len(DOCS) // 8):
        docs = DOCS[u * 8 : (u + 1) * 8]
        previous = DOCS[u * 8 - 1] if u else None
        stats = engine.generate(docs, first_doc=u * 8, previous=previous, batch=u).stats
        rows += stats["rows"]
        for task, counters in stats["tasks"]:
            made += counters["examples"]
            too_long += counters["too_long"]
            per_task[task] = per_task.get(task, 0) + counters["too_long"]
    got = s.stats
    assert got["units"] == 15 and got["documents"] == len(DOCS)
    assert (got["examples"], got["too_long"], got["rows"]) == (made, too_long, rows)
    assert {t: c["too_long"] for t, c in got["tasks"].items()} == per_task
    assert too_long > 0  # the point: at 256 tokens many examples do not fit

    take(s, 1)  # a new iteration counts afresh
    assert 0 < s.stats["units"] < 15


def test_loader_stats_gather_the_workers_counters(make_stream):
    alone = make_stream(seq_len=256)
    list(alone)
    loader = L2TLoader(make_stream(seq_len=256), num_workers=2)
    list(loader)
    assert loader.stats == alone.stats
    assert all(POSITION not in batch for batch in take(loader, 2))


def _dropped_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DroppedExamplesWarning)]


def test_most_examples_dropped_warns_once_per_iteration_with_the_remedy(make_stream):
    docs = make_corpus(400, seed=1)
    s = make_stream(docs=docs, seq_len=128, batch_docs=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = ids_of(s)
        assert len(_dropped_warnings(caught)) == 1
        list(s)
        messages = _dropped_warnings(caught)
    assert len(messages) == 2  # once per iteration, not once per unit
    stats = s.stats
    assert stats["too_long"] > 10 * stats["examples"] and len(rows) == stats["rows"]
    message = messages[0]
    assert "longer than 128 tokens" in message and "seq_len=128" in message
    assert "Raise seq_len" in message and "raw_ratio" in message
    dropped, tried = (
        int(x) for x in message.split("dropped ")[1].split(" examples")[0].split(" of ")
    )
    assert tried >= 500 and dropped * 2 > tried


def test_a_loader_warns_once_in_the_main_process(make_stream):
    docs = make_corpus(400, seed=1)
    loader = L2TLoader(make_stream(docs=docs, seq_len=128, batch_docs=16), num_workers=2)
    with pytest.warns(DroppedExamplesWarning, match="examples .* longer than 128 tokens") as got:
        list(loader)
    assert len(_dropped_warnings(got)) == 1
    assert loader.stats["too_long"] > 10 * loader.stats["examples"]


def test_rows_that_fit_raise_no_warning(make_stream):
    s = make_stream(docs=make_corpus(400, seed=1), seq_len=2048, batch_docs=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DroppedExamplesWarning)
        list(s)
    assert s.stats["examples"] > 500 and s.stats["too_long"] * 10 < s.stats["examples"]


def test_a_shuffle_block_beyond_the_layout_limit_is_refused_at_construction(make_stream):
    with pytest.raises(l2t.ConfigError, match="shuffle_buffer=10000000"):
        make_stream(shuffle_buffer=10_000_000)
