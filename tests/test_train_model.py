"""The training model: HF compatibility, attention isolation, head-dim padding, chunked loss."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import torch.nn.functional as F  # noqa: E402

import l2t  # noqa: E402
from conftest import FIXTURES, read_jsonl  # noqa: E402
from l2t.train import (  # noqa: E402
    CausalLM,
    ModelConfig,
    attention,
    chunked_cross_entropy,
    document_block_mask,
    document_mask,
    export_hf,
    load_hf,
    padded_vocab,
    preset,
    to_hf_config,
)
from l2t.train import presets as presets_module  # noqa: E402

TOKENIZER = FIXTURES / "bpe-pydoc-2k.json"
TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])


def tokenizer_vocab() -> int:
    return l2t.Tokenizer(TOKENIZER).vocab_size


def random_model(cfg: ModelConfig, seed: int = 0) -> CausalLM:
    """A model whose biases and norm weights are not the trivial zeros and ones, so that a
    mapping mistake on them shows in the logits."""
    torch.manual_seed(seed)
    model = CausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def tiny() -> ModelConfig:
    return preset("tiny", tokenizer_vocab())


# -- export and Hugging Face compatibility ------------------------------------------------------


@pytest.mark.parametrize("architecture", ["qwen2", "llama"])
@pytest.mark.parametrize("head_dim", [16, 10])
def test_export_gives_hf_the_same_logits(tmp_path, architecture, head_dim):
    cfg = preset("tiny", tokenizer_vocab(), head_dim=head_dim)
    model = random_model(cfg)
    out = export_hf(model, cfg, tmp_path / "hf", tokenizer=TOKENIZER, architecture=architecture)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    hf_class = {"qwen2": transformers.Qwen2ForCausalLM, "llama": transformers.LlamaForCausalLM}
    hf = hf_class[architecture].from_pretrained(out, attn_implementation="eager").eval()
    assert hf.config.head_dim == head_dim
    assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()  # tied
    ids = torch.randint(0, tokenizer_vocab(), (2, 37), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(ids, isolate=False)
        theirs = hf(ids).logits
        auto = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
        assert type(auto) is hf_class[architecture]
        auto_logits = auto(ids).logits
    assert ours.shape == theirs.shape == (2, 37, cfg.vocab_size)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours, auto_logits, atol=1e-5, rtol=0)

    config = json.loads((out / "config.json").read_text())
    assert config["rope_theta"] == 1e6 and config["tie_word_embeddings"] is True
    eos = l2t.Tokenizer(TOKENIZER).eos_id
    assert config["eos_token_id"] == eos
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == eos


def test_state_dict_keys_are_hf_qwen2(tiny):
    with torch.device("meta"):
        ours = CausalLM(tiny)
        theirs = transformers.Qwen2ForCausalLM(to_hf_config(tiny))
    assert set(ours.state_dict()) == set(theirs.state_dict())
    shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == shapes


@pytest.mark.parametrize("architecture", ["qwen2", "llama"])
def test_load_hf_round_trip(tmp_path, tiny, architecture):
    model = random_model(tiny)
    out = export_hf(model, tiny, tmp_path / "hf", architecture=architecture)
    loaded, cfg = load_hf(out)
    assert cfg == tiny
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ids = torch.randint(0, tiny.vocab_size, (1, 20))
    with torch.no_grad():
        assert torch.equal(loaded(ids), model(ids))


def test_export_in_bf16_and_compiled_wrappers(tmp_path, tiny):
    model = random_model(tiny)
    wrapped = torch.nn.Module()
    wrapped.module = model  # what DDP looks like to the exporter
    out = export_hf(wrapped, tiny, tmp_path / "hf", dtype=torch.bfloat16)
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    loaded, _ = load_hf(out)
    assert loaded.model.norm.weight.dtype == torch.bfloat16
    assert torch.equal(loaded.model.norm.weight, model.model.norm.weight.to(torch.bfloat16))
    # A state dict saved from a torch.compile'd model carries the wrapper's key prefix.
    compiled_state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    again, _ = load_hf(export_hf(compiled_state, tiny, tmp_path / "hf2"))
    assert torch.equal(again.model.norm.weight, model.model.norm.weight)


def test_export_refuses_mismatches(tmp_path, tiny):
    model = random_model(tiny)
    other = preset("tiny", tokenizer_vocab(), num_layers=3)
    with pytest.raises(l2t.ConfigError, match="do not match"):
        export_hf(model, other, tmp_path / "a")
    small = preset("tiny", 100)  # 128 ids, the tokenizer has 2000
    with pytest.raises(l2t.ConfigError, match="2000 ids"):
        export_hf(CausalLM(small), small, tmp_path / "b", tokenizer=TOKENIZER)
    assert not (tmp_path / "b" / "model.safetensors").exists()
    with pytest.raises(l2t.ConfigError, match="architecture"):
        export_hf(model, tiny, tmp_path / "c", architecture="gpt2")


def _encodings_match(tokenizer) -> list[str]:
    """The fixture documents (and a few hard strings) that `tokenizer` encodes differently."""
    import tokenizers

    reference = tokenizers.Tokenizer.from_file(str(TOKENIZER))
    texts = [r["text"] for r in read_jsonl(FIXTURES / "docs.jsonl")]
    texts += ["In 1839, 12 men paid $3.50 for (‘quoted’) CAPS; don't WE'LL", "é e\u0301 你好 😀"]
    return [t[:40] for t in texts if tokenizer(t).input_ids != reference.encode(t).ids]


@pytest.mark.parametrize(
    "architecture",
    [
        pytest.param(
            "qwen2",
            marks=pytest.mark.xfail(
                TRANSFORMERS_MAJOR >= 5,
                reason="transformers 5's AutoTokenizer rebuilds every qwen2 tokenizer with "
                "Qwen's pre-tokenizer regex instead of tokenizer.json",
                strict=True,
            ),
        ),
        "llama",
    ],
)
def test_auto_tokenizer_encodes_as_in_training(tmp_path, tiny, architecture):
    out = export_hf(random_model(tiny), tiny, tmp_path / "hf", TOKENIZER, architecture=architecture)
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok.eos_token == "<|endoftext|>"
    assert _encodings_match(tok) == []


@pytest.mark.parametrize("architecture", ["qwen2", "llama"])
def test_exported_tokenizer_json_is_exact(tmp_path, tiny, architecture):
    out = export_hf(random_model(tiny), tiny, tmp_path / "hf", TOKENIZER, architecture=architecture)
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(out)
    assert tok.eos_token == "<|endoftext|>"
    assert _encodings_match(tok) == []


def test_tokenizer_given_as_json_text_or_saved_directory(tmp_path, tiny):
    model = random_model(tiny)
    text = TOKENIZER.read_text(encoding="utf-8")
    first = export_hf(model, tiny, tmp_path / "a", tokenizer=text, architecture="llama")
    assert (first / "tokenizer.json").read_text(encoding="utf-8") == text
    # A directory with a saved HF tokenizer is copied as it is.
    second = export_hf(model, tiny, tmp_path / "b", tokenizer=first, architecture="llama")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (second / name).read_bytes() == (first / name).read_bytes()


# -- attention isolation -----------------------------------------------------------------------


def test_isolation_through_outputs(tiny):
    model = random_model(tiny)
    gen = torch.Generator().manual_seed(2)
    a = torch.randint(0, tiny.vocab_size, (7,), generator=gen)
    a2 = torch.randint(0, tiny.vocab_size, (7,), generator=gen)
    b = torch.randint(0, tiny.vocab_size, (9,), generator=gen)
    pads = torch.zeros(4, dtype=torch.long)

    def pack(first, second):
        ids = torch.cat([first, second, pads])
        docs = torch.tensor([1] * len(first) + [2] * len(second) + [0] * 4)
        pos = torch.cat([torch.arange(len(first)), torch.arange(len(second)), torch.arange(4)])
        return ids, pos, docs

    # Row 0: A then B; row 1: B then A (each row gets its own mask).
    rows = [pack(a, b), pack(b, a)]
    ids, pos, docs = (torch.stack(x) for x in zip(*rows, strict=True))
    with torch.no_grad():
        alone = model(b[None])[0]
        packed = model(ids, pos, docs)
        other = torch.stack([pack(a2, b)[0], pack(b, a2)[0]])  # A replaced by A2
        changed = model(other, pos, docs)
        shared = model(ids, pos, docs, isolate=False)
        shared_changed = model(other, pos, docs, isolate=False)
    torch.testing.assert_close(packed[0, 7:16], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed[1, 0:9], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(changed[0, 7:16], packed[0, 7:16], atol=1e-6, rtol=0)
    # The un-isolated packing lets B see A: changing A moves B's logits.
    assert (shared_changed[0, 7:16] - shared[0, 7:16]).abs().max() > 1e-3
    # And the difference is attention, not positions: the same positions were used above.
    assert (shared[0, 7:16] - alone).abs().max() > 1e-3


def test_document_mask():
    mask = document_mask(torch.tensor([[1, 1, 2, 2, 0]]))
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 1, 1, 0],
            [0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert mask.shape == (1, 1, 5, 5)
    assert torch.equal(mask[0, 0], expected)


# -- head-dim padding --------------------------------------------------------------------------


def reference_attention(q, k, v, mask):
    """Softmax attention written out, GQA by repeating KV heads."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


@pytest.mark.parametrize("head_dim", [10, 42, 16])
@pytest.mark.parametrize("isolated", [False, True])
def test_head_dim_padding_leaves_attention_unchanged(monkeypatch, head_dim, isolated):
    gen = torch.Generator().manual_seed(head_dim)
    q = torch.randn(2, 4, 12, head_dim, generator=gen)
    k = torch.randn(2, 2, 12, head_dim, generator=gen)
    v = torch.randn(2, 2, 12, head_dim, generator=gen)
    docs = torch.tensor([[1] * 5 + [2] * 7, [1] * 12])
    mask = document_mask(docs) if isolated else None
    full = mask if isolated else torch.ones(12, 12, dtype=torch.bool).tril()[None, None]

    seen = []
    sdpa = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        seen.append(args[0].shape[-1])
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    padded = attention(q, k, v, mask=mask, is_causal=not isolated)
    plain = attention(q, k, v, mask=mask, is_causal=not isolated, multiple=1)
    assert seen == [-(-head_dim // 8) * 8, head_dim]  # the kernel got the padded head
    expected = reference_attention(q, k, v, full)
    assert padded.shape == expected.shape == (2, 4, 12, head_dim)
    torch.testing.assert_close(padded, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, plain, atol=1e-6, rtol=1e-6)


# -- FlexAttention -----------------------------------------------------------------------------
# The CPU has FlexAttention's forward pass only (its training kernels are CUDA's); what is checked
# here is that the block mask, the GQA call and the head padding give SDPA's exact attention.


def packed_docs(seq: int) -> torch.Tensor:
    """Two rows: several examples of uneven lengths then pads, and one whole-row example."""
    first = [1] * 5 + [2] * 17 + [3] * 3 + [4] * (seq - 30) + [0] * 5
    return torch.tensor([first, [1] * seq])


def test_flex_attention_matches_the_dense_mask():
    head_dim, seq = 42, 40  # the paper's odd head dim, padded to 48 for the kernel
    gen = torch.Generator().manual_seed(4)
    q = torch.randn(2, 4, seq, head_dim, generator=gen)
    k = torch.randn(2, 2, seq, head_dim, generator=gen)
    v = torch.randn(2, 2, seq, head_dim, generator=gen)
    docs = packed_docs(seq)
    with torch.no_grad():
        flex = attention(q, k, v, mask=document_block_mask(docs))
    expected = reference_attention(q, k, v, document_mask(docs))
    torch.testing.assert_close(flex, expected, atol=1e-5, rtol=1e-5)


def test_flex_model_gives_the_sdpa_model_logits(tiny):
    dense = random_model(tiny)
    flex = CausalLM(tiny, attention="flex").eval()
    flex.load_state_dict(dense.state_dict())
    seq = 48
    docs = packed_docs(seq)
    ids = torch.randint(0, tiny.vocab_size, docs.shape, generator=torch.Generator().manual_seed(5))
    # Positions restart per example, as L2TStream makes them.
    starts = torch.cat([torch.ones(2, 1, dtype=torch.bool), docs[:, 1:] != docs[:, :-1]], 1)
    index = torch.arange(seq).expand(2, seq)
    pos = index - torch.cummax(torch.where(starts, index, 0), 1).values
    with torch.no_grad():
        ours = flex(ids, pos, docs)
        theirs = dense(ids, pos, docs)
        # As the trainer runs it with compile on: the block mask is made outside the graph,
        # which then takes FlexAttention's kernel in.
        compiled = torch.compile(flex)(ids, pos, docs)
    assert flex.attention_backend(ids.device) == "flex"
    assert dense.attention_backend(ids.device) == "sdpa"  # "auto" off CUDA
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(compiled, theirs, atol=1e-5, rtol=1e-5)


def test_unknown_attention_backend_is_refused(tiny):
    with pytest.raises(l2t.ConfigError, match="attention must be one of"):
        CausalLM(tiny, attention="flash")


# -- loss --------------------------------------------------------------------------------------


def test_chunked_cross_entropy_equals_full():
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(50, 16, generator=gen, requires_grad=True)
    weight = torch.randn(300, 16, generator=gen, requires_grad=True)
    targets = torch.randint(0, 300, (50,), generator=gen)
    targets[::4] = -100

    for reduction in ("mean", "sum"):
        loss = chunked_cross_entropy(hidden, weight, targets, chunk_size=7, reduction=reduction)
        ref = F.cross_entropy(hidden @ weight.T, targets, ignore_index=-100, reduction=reduction)
        torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-6)
        grads = torch.autograd.grad(loss, (hidden, weight))
        ref_grads = torch.autograd.grad(ref, (hidden, weight))
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(
            chunked_cross_entropy(hidden, weight, targets, chunk_size=7),
            F.cross_entropy(hidden @ weight.T, targets, ignore_index=-100),
            atol=1e-5,
            rtol=1e-6,
        )
    # Nothing to predict: a zero loss and zero gradients, not NaN.
    none = chunked_cross_entropy(hidden, weight, torch.full((50,), -100), chunk_size=7)
    none.backward()
    assert none.item() == 0.0 and torch.equal(weight.grad, torch.zeros_like(weight))


def test_model_loss_and_gradients_match_full_logits(tiny):
    model = random_model(tiny)
    gen = torch.Generator().manual_seed(4)
    ids = torch.randint(0, tiny.vocab_size, (2, 24), generator=gen)
    labels = ids.clone()
    labels[0, 10:14] = -100
    labels[1, :3] = -100
    loss, logits = model(ids, labels=labels, chunk_size=5)
    assert logits is None
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values())

    model.zero_grad()
    full = model(ids)
    ref = F.cross_entropy(
        full[:, :-1].reshape(-1, tiny.vocab_size), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    ref.backward()
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, atol=1e-6, rtol=1e-4, msg=name)

    _, with_logits = model(ids, labels=labels, return_logits=True)
    torch.testing.assert_close(with_logits, full, atol=0, rtol=0)


def test_loss_under_bf16_autocast(tiny):
    model = random_model(tiny)
    ids = torch.randint(0, tiny.vocab_size, (2, 16), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref, _ = model(ids, labels=ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = model(ids, labels=ids)
    loss.backward()
    assert loss.dtype == torch.float32
    assert abs(loss.item() - ref.item()) < 0.05 * ref.item()
    assert model.model.embed_tokens.weight.grad.dtype == torch.float32
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_gradient_checkpointing_changes_nothing(tiny):
    model = random_model(tiny).train()
    ids = torch.randint(0, tiny.vocab_size, (2, 16), generator=torch.Generator().manual_seed(6))
    docs = torch.tensor([[1] * 8 + [2] * 8, [1] * 16])
    pos = torch.stack([torch.cat([torch.arange(8), torch.arange(8)]), torch.arange(16)])
    loss, _ = model(ids, pos, docs, ids)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.gradient_checkpointing = True
    again, _ = model(ids, pos, docs, ids)
    again.backward()
    assert torch.equal(loss, again)
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, atol=1e-7, rtol=1e-6)


# -- presets -----------------------------------------------------------------------------------

# Parameter counts with a 32,768-id vocabulary, as the presets module documents them.
EXPECTED = {
    "tiny": (2_171_456, 74_304),
    "40m": (41_959_936, 25_182_720),
    "100m": (100_697_856, 75_532_032),
    "500m": (445_919_808, 412_365_376),
    "1b": (997_378_272, 940_755_168),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_parameter_counts(name):
    cfg = preset(name, 32768)
    with torch.device("meta"):
        model = CausalLM(cfg)
    assert all(p.device.type == "meta" for p in model.parameters())
    total, body = EXPECTED[name]
    assert model.num_parameters() == cfg.num_parameters() == total
    assert cfg.num_parameters(embeddings=False) == body
    print(f"{name}: {total:,} parameters ({body:,} without the embedding)")
    row = next(line for line in presets_module.__doc__.splitlines() if line.startswith(name + " "))
    assert f"{total:,}" in row and f"{body:,}" in row


def test_paper_shapes():
    small, large = preset("500m", 32000), preset("1b", 32000)
    assert 0.4e9 < small.num_parameters() < 0.6e9
    assert 0.9e9 < large.num_parameters() < 1.1e9
    assert (small.num_layers, small.hidden_size, small.num_heads, small.num_kv_heads) == (
        24,
        1024,
        24,
        2,
    )
    assert (small.head_dim, small.intermediate_size, small.rope_theta) == (42, 4864, 1e6)
    assert (large.num_layers, large.hidden_size, large.num_heads, large.num_kv_heads) == (
        30,
        1728,
        32,
        4,
    )
    assert (large.head_dim, large.intermediate_size) == (54, 4752)
    assert small.vocab_size == large.vocab_size == 32000  # already a multiple of 128


def test_vocab_padding_and_config_errors():
    assert [padded_vocab(n) for n in (1, 128, 129, 2000, 50257)] == [128, 128, 256, 2048, 50304]
    assert preset("tiny", 2000).vocab_size == 2048
    with pytest.raises(l2t.ConfigError, match="unknown model preset"):
        preset("7b", 2000)
    with pytest.raises(l2t.ConfigError, match="unknown model config keys"):
        preset("tiny", 2000, layers=3)
    with pytest.raises(l2t.ConfigError, match="multiple of num_kv_heads"):
        ModelConfig(128, 64, 128, 2, 4, 3, 16)
    with pytest.raises(l2t.ConfigError, match="even"):
        ModelConfig(128, 64, 128, 2, 4, 2, 15)
    cfg = preset("500m", 1000)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
