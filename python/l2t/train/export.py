"""Hugging Face checkpoints: export l2t models as Llama or Qwen2 directories, and load them.

An exported directory holds ``model.safetensors``, ``config.json``, ``generation_config.json``
and the tokenizer (``tokenizer.json`` and ``tokenizer_config.json``), so
``transformers.AutoModelForCausalLM.from_pretrained(out_dir)``,
``AutoTokenizer.from_pretrained(out_dir)`` and lm-evaluation-harness's ``hf`` model load it
(but see below for the tokenizer under transformers 5). :func:`load_hf` reads such a directory
(or any plain Qwen2 checkpoint) back into :class:`l2t.train.model.CausalLM`.

The model is a Qwen2 decoder, and ``architecture="qwen2"`` writes it as ``Qwen2ForCausalLM``.
The default, ``architecture="llama"``, writes the same network as ``LlamaForCausalLM``
(attention biases on, a zero ``o_proj`` bias): the logits are the same, and what differs is the
tokenizer that ``AutoTokenizer`` (and so lm-evaluation-harness) picks. transformers 5 loads
every ``qwen2`` directory with its own ``Qwen2Tokenizer``, which rebuilds the pre-tokenizer
(Qwen's regex, digits split one by one, NFC) from the vocabulary instead of using
``tokenizer.json`` as it is, so any other tokenizer encodes differently there than in training;
a ``llama`` directory loads ``tokenizer.json`` unchanged, so evaluation sees the training ids.
(transformers 4.x should honour ``tokenizer_config.json``'s ``PreTrainedTokenizerFast`` for
both; only transformers 5 is tested here.)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from l2t._l2t import ConfigError
from l2t.tokenizer import Tokenizer, tokenizer_json
from l2t.train.model import CausalLM, ModelConfig, unwrap, unwrapped_key

ARCHITECTURES = ("qwen2", "llama")
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
# Files of a saved Hugging Face tokenizer, copied when the tokenizer is given as such a directory.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
)


def to_hf_config(
    cfg: ModelConfig,
    *,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    dtype: torch.dtype | None = None,
    architecture: str = "qwen2",
) -> Any:
    """The ``transformers.Qwen2Config`` (or ``LlamaConfig``) of `cfg`.

    Qwen2's attention semantics are fixed by the architecture (biases on q/k/v, none on o,
    SiLU-gated MLP, no sliding window), so they need no flags; ``head_dim`` is written
    explicitly because it may differ from ``hidden_size // num_heads``.

    Args:
        cfg: the l2t model config.
        bos_token_id: recorded in the config, if known.
        eos_token_id: recorded in the config, if known.
        dtype: the dtype the weights are saved in.
        architecture: ``"qwen2"`` (``Qwen2ForCausalLM``) or ``"llama"`` (``LlamaForCausalLM``
            with ``attention_bias=True``, whose ``o_proj`` bias the export sets to zero).

    Returns:
        The config, with ``architectures`` naming the causal-LM class.

    """
    from transformers import LlamaConfig, Qwen2Config

    extra: dict[str, Any] = {}
    if dtype is not None:
        extra["dtype"] = str(dtype).removeprefix("torch.")
    if architecture == "qwen2":
        cls: Any = Qwen2Config
        extra.update(use_sliding_window=False, architectures=["Qwen2ForCausalLM"])
    elif architecture == "llama":
        cls = LlamaConfig
        extra.update(attention_bias=True, mlp_bias=False, architectures=["LlamaForCausalLM"])
    else:
        raise ConfigError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    return cls(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        head_dim=cfg.head_dim,
        hidden_act="silu",
        max_position_embeddings=cfg.max_position_embeddings,
        initializer_range=cfg.init_std,
        rms_norm_eps=cfg.rms_norm_eps,
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=cfg.tie_word_embeddings,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        **extra,
    )


def from_hf_config(config: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a Qwen2 config (a ``transformers`` config or its dict).

    A Llama config is read too (as :func:`export_hf` writes it with ``architecture="llama"``).

    Raises:
        ConfigError: for another architecture or a variant this model does not implement
            (sliding-window attention, scaled RoPE, another activation, MLP biases).

    """
    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if d.get("model_type", "qwen2") not in ARCHITECTURES:
        raise ConfigError(f"not a Qwen2 or Llama checkpoint (model_type {d.get('model_type')!r})")
    if d.get("mlp_bias"):
        raise ConfigError("MLP biases are not supported")
    if d.get("model_type") == "llama" and not d.get("attention_bias"):
        raise ConfigError("a Llama checkpoint needs attention_bias=True (Qwen2's q/k/v biases)")
    if d.get("use_sliding_window"):
        raise ConfigError("sliding-window attention is not supported")
    if d.get("hidden_act", "silu") != "silu":
        raise ConfigError(f"activation {d.get('hidden_act')!r} is not supported (only silu)")
    rope = d.get("rope_parameters") or d.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise ConfigError(f"RoPE scaling {rope} is not supported")
    # transformers 5 keeps theta in rope_parameters, 4.x at the top (default 10000 there).
    theta = rope.get("rope_theta", d.get("rope_theta", 10000.0))
    heads = d["num_attention_heads"]
    return ModelConfig(
        vocab_size=d["vocab_size"],
        hidden_size=d["hidden_size"],
        intermediate_size=d["intermediate_size"],
        num_layers=d["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=d.get("num_key_value_heads") or heads,
        head_dim=d.get("head_dim") or d["hidden_size"] // heads,
        rope_theta=float(theta),
        rms_norm_eps=d.get("rms_norm_eps", 1e-6),
        max_position_embeddings=d.get("max_position_embeddings", 32768),
        tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
        init_std=d.get("initializer_range", 0.02),
    )


def _expected_keys(cfg: ModelConfig) -> set[str]:
    with torch.device("meta"):
        return set(CausalLM(cfg).state_dict())


def export_hf(
    model: CausalLM | Mapping[str, torch.Tensor],
    cfg: ModelConfig,
    out_dir: str | os.PathLike[str],
    tokenizer: Any = None,
    *,
    dtype: torch.dtype | None = None,
    architecture: str = "llama",
) -> Path:
    """Writes a Hugging Face model directory (``LlamaForCausalLM`` or ``Qwen2ForCausalLM``).

    Args:
        model: the model (``torch.compile`` and DDP wrappers are looked through) or its
            ``state_dict()`` (their ``_orig_mod.``/``module.`` key prefixes are dropped).
        cfg: its config.
        out_dir: the directory to write (created; existing files of the same names are
            replaced).
        tokenizer: None, a path to ``tokenizer.json``, a directory (a saved HF tokenizer is
            copied as it is; a bare ``tokenizer.json`` gets a ``tokenizer_config.json``),
            the JSON text, a ``tokenizers.Tokenizer`` or a transformers tokenizer.
        dtype: the dtype to save the weights in (default: as they are).
        architecture: ``"llama"`` (the same network as ``LlamaForCausalLM``, whose tokenizer
            transformers 5's ``AutoTokenizer`` loads as trained: see the module docstring) or
            ``"qwen2"``.

    Returns:
        The output directory.

    Raises:
        ConfigError: when the weights do not match `cfg`, or the tokenizer has more ids than
            the model's vocabulary.

    """
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    if architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(model, torch.nn.Module):
        state = dict(unwrap(model).state_dict())
    else:
        state = {unwrapped_key(k): v for k, v in model.items()}
    expected = _expected_keys(cfg)
    if set(state) != expected:
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ConfigError(
            f"the weights do not match the config: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}"
        )
    if cfg.tie_word_embeddings:
        # The tied head is one tensor under two names; HF saves it once (as the embedding) and
        # ties it again on load, and safetensors refuses shared storage anyway.
        state.pop("lm_head.weight")
    tensors = {
        k: v.detach().to(device="cpu", dtype=dtype or v.dtype).contiguous()
        for k, v in state.items()
    }
    if architecture == "llama":
        # Llama's attention_bias puts a bias on o_proj too; a zero one is Qwen2's "none".
        for i in range(cfg.num_layers):
            proj = tensors[f"model.layers.{i}.self_attn.o_proj.weight"]
            tensors[f"model.layers.{i}.self_attn.o_proj.bias"] = proj.new_zeros(proj.shape[0])
    bos = eos = None
    if tokenizer is not None:  # first: a tokenizer that does not fit leaves no weights behind
        bos, eos = _write_tokenizer(tokenizer, out, cfg)
    save_file(tensors, str(out / WEIGHTS), metadata={"format": "pt"})
    saved_dtype = dtype or next(iter(tensors.values())).dtype
    hf = to_hf_config(
        cfg, bos_token_id=bos, eos_token_id=eos, dtype=saved_dtype, architecture=architecture
    )
    hf.save_pretrained(out)
    # transformers 4.x (as lm-evaluation-harness environments often pin) reads theta and dtype
    # from these top-level keys; 5.x reads rope_parameters/dtype and ignores them.
    config_path = out / "config.json"
    data = json.loads(config_path.read_text(encoding="utf-8"))
    data.setdefault("rope_theta", cfg.rope_theta)
    data.setdefault("torch_dtype", str(saved_dtype).removeprefix("torch."))
    config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    GenerationConfig(bos_token_id=bos, eos_token_id=eos).save_pretrained(out)
    return out


def _write_tokenizer(spec: Any, out: Path, cfg: ModelConfig) -> tuple[int | None, int | None]:
    """Writes the tokenizer files into `out`; returns its (bos, eos) ids."""
    text = tokenizer_json(spec)
    tok = Tokenizer(text)
    if tok.vocab_size > cfg.vocab_size:
        raise ConfigError(
            f"the tokenizer has {tok.vocab_size} ids but the model only {cfg.vocab_size}"
        )
    source_dir = None
    if isinstance(spec, (str, Path)) and not str(spec).lstrip().startswith("{"):
        path = Path(spec)
        source_dir = path if path.is_dir() else None
    if hasattr(spec, "save_pretrained"):  # a transformers tokenizer keeps its own settings
        spec.save_pretrained(out)
    elif source_dir is not None and (source_dir / "tokenizer_config.json").is_file():
        for name in _TOKENIZER_FILES:
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, out / name)
    else:
        (out / "tokenizer.json").write_text(text, encoding="utf-8")
        names = json.loads(text)
        by_id = {t["id"]: t["content"] for t in names.get("added_tokens", [])}
        config: dict[str, Any] = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": cfg.max_position_embeddings,
            "clean_up_tokenization_spaces": False,
        }
        if tok.bos_id is not None and tok.bos_id in by_id:
            config["bos_token"] = by_id[tok.bos_id]
        if tok.eos_id is not None and tok.eos_id in by_id:
            config["eos_token"] = by_id[tok.eos_id]
        (out / "tokenizer_config.json").write_text(
            json.dumps(config, indent=2) + "\n", encoding="utf-8"
        )
    return tok.bos_id, tok.eos_id


def _read_weights(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if (path / WEIGHTS).is_file():
        return load_file(str(path / WEIGHTS), device=str(device))
    index = path / WEIGHTS_INDEX
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(path / shard), device=str(device)))
        return state
    raise ConfigError(f"no {WEIGHTS} or {WEIGHTS_INDEX} in {path}")


def load_hf(
    path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
) -> tuple[CausalLM, ModelConfig]:
    """Loads a checkpoint directory: an export of :func:`export_hf`, or any plain Qwen2.

    Args:
        path: the directory.
        dtype: cast the weights to this dtype (default: as saved).
        device: where the weights go.

    Returns:
        ``(model, cfg)``, the model in eval mode.

    """
    path = Path(path)
    try:
        hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read {path / 'config.json'}: {e}") from e
    cfg = from_hf_config(hf)
    state = _read_weights(path, device)
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # some checkpoints store the tied head twice
    for i in range(cfg.num_layers):
        # A Llama export's o_proj bias: this model has none, so it must be zero.
        bias = state.pop(f"model.layers.{i}.self_attn.o_proj.bias", None)
        if bias is not None and bool(bias.any()):
            raise ConfigError(f"{path}: layer {i} has a non-zero o_proj bias (not supported)")
    with torch.device("meta"):
        model = CausalLM(cfg)
    result = model.load_state_dict(state, strict=False, assign=True)
    tied = {"lm_head.weight"} if cfg.tie_word_embeddings else set()
    if set(result.missing_keys) - tied or result.unexpected_keys:
        raise ConfigError(
            f"{path}: the weights do not match its config: missing "
            f"{sorted(set(result.missing_keys) - tied)[:5]}, unexpected "
            f"{sorted(result.unexpected_keys)[:5]}"
        )
    model.tie_weights()  # assign=True replaced the embedding the head pointed to
    return model.eval(), cfg
