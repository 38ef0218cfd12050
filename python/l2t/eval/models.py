"""Models to evaluate, from wherever they live: l2t runs and checkpoints, HF directories, GGUF.

:func:`load_model` takes a path (or a hub name) and returns the module with the tokenizer that
belongs to it; :func:`logits_function` turns any causal LM module (l2t's
:class:`~l2t.train.model.CausalLM`, under ``torch.compile``/DDP wrappers or not, or a
transformers model) into ``ids [batch, seq] -> logits [batch, seq, vocab]``.

Path kinds, tried in this order:

- ``*.gguf`` file, or a directory with exactly one ``.gguf`` and no ``config.json``: transformers'
  GGUF loader (needs the ``gguf`` package; quantized weights are de-quantized to float).
- a directory with ``state.pt``: one l2t checkpoint (``RUN/checkpoints/step-*``); its tokenizer
  is the run's (``RUN/config.json``'s ``tokenizer``).
- a directory with ``checkpoints/``: an l2t run, its newest checkpoint.
- a directory with ``config.json``: a Hugging Face model (``AutoModelForCausalLM``,
  ``AutoTokenizer``), an l2t export included.
- anything else: a hub name, for ``AutoModelForCausalLM.from_pretrained``.

On a GPU, path-loaded models are loaded in bfloat16; on the CPU in float32.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from l2t._l2t import ConfigError
from l2t.eval.tokenizer import ScoringTokenizer
from l2t.tokenizer import tokenizer_json
from l2t.train.model import CausalLM, unwrap, unwrapped_key
from l2t.train.trainer import CHECKPOINTS, latest_checkpoint

Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LoadedModel:
    """A model ready to score, with what is known about it.

    Attributes:
        module: the causal LM, in eval mode, on its device.
        tokenizer: the tokenizer that came with it (None for a bare module).
        name: a short description for reports.
        kind: ``l2t-checkpoint``, ``hf``, ``gguf`` or ``module``.
        path: where it was loaded from.
        step: training step (l2t checkpoints).
        tokens: training tokens seen (l2t checkpoints).

    """

    module: torch.nn.Module
    tokenizer: ScoringTokenizer | None
    name: str
    kind: str
    path: str | None = None
    step: int | None = None
    tokens: int | None = None


def default_device(device: str | torch.device | None) -> torch.device:
    """`device`, or CUDA when there is one, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a module's parameters are (the CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def is_l2t_model(module: Any) -> bool:
    """Whether `module` (or what a compile/DDP wrapper holds) is an l2t ``CausalLM``."""
    return isinstance(unwrap(module), CausalLM)


def logits_function(module: torch.nn.Module) -> Logits:
    """``ids -> logits`` for an l2t ``CausalLM`` or a transformers causal LM.

    Neither gets an attention mask: inputs are right-padded, and under a causal mask no real
    token attends to a pad after it, so the real positions' logits are those of the unpadded
    sequence (as in lm-evaluation-harness, which does the same).
    """
    if is_l2t_model(module):

        def l2t_logits(ids: torch.Tensor) -> torch.Tensor:
            out = module(ids, isolate=False)
            assert isinstance(out, torch.Tensor)
            return out

        return l2t_logits

    def hf_logits(ids: torch.Tensor) -> torch.Tensor:
        return module(input_ids=ids, use_cache=False).logits

    return hf_logits


def _dtype_for(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _transformers_dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    # ``dtype`` replaced ``torch_dtype`` in 4.56; older versions only know the latter.
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _checkpoint_dir(path: Path) -> Path | None:
    """The checkpoint directory `path` names: itself, or a run's newest."""
    if (path / "state.pt").is_file():
        return path
    if (path / CHECKPOINTS).is_dir():
        newest = latest_checkpoint(path)
        if newest is None:
            raise ConfigError(f"{path}: a run directory without any checkpoint")
        return newest
    return None


def run_tokenizer(checkpoint: Path) -> str | None:
    """The ``tokenizer`` a checkpoint's run was trained with (``RUN/config.json``), if recorded.

    A relative path that does not exist from the working directory is tried from the run
    directory too.
    """
    run_dir = checkpoint.parent.parent
    config = run_dir / "config.json"
    if not config.is_file():
        return None
    try:
        spec = json.loads(config.read_text(encoding="utf-8")).get("tokenizer")
    except json.JSONDecodeError as e:
        raise ConfigError(f"cannot read {config}: {e}") from e
    is_path = isinstance(spec, str) and not spec.lstrip().startswith("{")
    if is_path and not Path(spec).exists() and (run_dir / spec).exists():
        return str(run_dir / spec)
    return spec if isinstance(spec, str) else None


def load_checkpoint(
    path: str | os.PathLike[str], *, device: torch.device, dtype: torch.dtype
) -> LoadedModel:
    """An l2t checkpoint (``step-*`` directory, or a run's newest) as a :class:`LoadedModel`."""
    from l2t.train.model import CausalLM, ModelConfig

    ckpt = _checkpoint_dir(Path(path))
    if ckpt is None:
        raise ConfigError(f"{path}: neither an l2t checkpoint nor a run directory")
    try:
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
        cfg = ModelConfig.from_dict(state["model_config"])
        weights = state["model"]
    except (OSError, KeyError, TypeError, RuntimeError) as e:
        raise ConfigError(f"{ckpt / 'state.pt'} is not an l2t checkpoint: {e}") from e
    # torch.compile and DDP prefix the keys; the plain module has none.
    weights = {unwrapped_key(k): v.to(dtype) for k, v in weights.items()}
    with torch.device("meta"):
        model = CausalLM(cfg)
    model.load_state_dict(weights, assign=True)
    model.tie_weights()  # assign=True replaced the embedding the head pointed to
    spec = run_tokenizer(ckpt)
    tokenizer = ScoringTokenizer.from_tokenizer_json(tokenizer_json(spec)) if spec else None
    return LoadedModel(
        module=model.to(device).eval(),
        tokenizer=tokenizer,
        name=f"{ckpt.parent.parent.name}/{ckpt.name}",
        kind="l2t-checkpoint",
        path=str(ckpt),
        step=state.get("step"),
        tokens=state.get("tokens"),
    )


def _gguf_file(path: Path) -> Path | None:
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(path.glob("*.gguf"))
        if len(found) > 1:
            raise ConfigError(
                f"{path} holds several .gguf files; name one: {[p.name for p in found]}"
            )
        return found[0] if found else None
    return None


def load_transformers(
    name: str, *, device: torch.device, dtype: torch.dtype, gguf_file: str | None = None
) -> LoadedModel:
    """A transformers causal LM (a directory, a hub name, or a GGUF file in a directory)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - transformers is a train/test dependency
        raise ConfigError("loading a Hugging Face model needs transformers") from e
    extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            name, **_transformers_dtype_kwargs(dtype), **extra
        )
        tok = AutoTokenizer.from_pretrained(name, **extra)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a causal LM from {name!r}: {e}") from e
    model = model.to(device=device, dtype=dtype)  # GGUF de-quantizes to float32 whatever asked
    label = f"{Path(name).name}/{gguf_file}" if gguf_file else Path(name).name or name
    return LoadedModel(
        module=model.eval(),
        tokenizer=ScoringTokenizer.from_transformers(tok),
        name=label,
        kind="gguf" if gguf_file else "hf",
        path=str(Path(name) / gguf_file) if gguf_file else name,
    )


def load_model(
    model: Any,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> LoadedModel:
    """A model to score, from a path, a hub name or a module (see the module docstring).

    Args:
        model: a path (GGUF file or directory, l2t checkpoint or run, HF directory), a hub
            name, or an ``nn.Module`` (returned as it is: not moved, not cast).
        device: where to load it (default: CUDA if available, else the CPU).
        dtype: weight dtype (default: bfloat16 on a GPU, float32 on the CPU).

    Returns:
        The :class:`LoadedModel`.

    Raises:
        ConfigError: when nothing loadable is found there.

    """
    if isinstance(model, torch.nn.Module):
        return LoadedModel(model, None, type(unwrap(model)).__name__, "module")
    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a path, a name or an nn.Module, not {type(model).__name__}")
    where = default_device(device)
    dtype = dtype or _dtype_for(where)
    path = Path(model)
    # Hub names are "name" or "org/name": anything else that is not there is a wrong path.
    looks_like_path = path.is_absolute() or str(model).startswith(".") or len(path.parts) > 2
    if looks_like_path and not path.exists():
        raise ConfigError(f"model not found: {path}")
    gguf = _gguf_file(path)
    if gguf is not None:
        return load_transformers(str(gguf.parent), device=where, dtype=dtype, gguf_file=gguf.name)
    if path.is_dir() and _checkpoint_dir(path) is not None:
        return load_checkpoint(path, device=where, dtype=dtype)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(
            f"{path}: no model found (neither config.json, a .gguf file, state.pt nor checkpoints/)"
        )
    return load_transformers(str(model), device=where, dtype=dtype)


def prepare(
    model: Any,
    tokenizer: Any = None,
    *,
    device: str | torch.device | None = None,
    bf16: bool | None = None,
) -> tuple[LoadedModel, ScoringTokenizer, torch.device]:
    """The model, its scoring tokenizer and the device to score on, from the user's arguments.

    A module (or a :class:`LoadedModel`) stays where it is (`device` defaults to its own); a
    path is loaded onto `device` (default: CUDA if present), in bfloat16 on GPUs unless
    ``bf16=False``. An explicit `tokenizer` wins over the one a path carries.

    Raises:
        ConfigError: when there is no tokenizer.

    """
    if isinstance(model, (torch.nn.Module, LoadedModel)):
        loaded = load_model(model)
        where = torch.device(device) if device is not None else module_device(loaded.module)
    else:
        where = default_device(device)
        bf16_weights = where.type == "cuda" and bf16 is not False
        loaded = load_model(
            model, device=where, dtype=torch.bfloat16 if bf16_weights else torch.float32
        )
    tok = ScoringTokenizer.from_any(tokenizer) if tokenizer is not None else loaded.tokenizer
    if tok is None:
        raise ConfigError(f"a tokenizer is needed to score {loaded.name} (pass tokenizer=...)")
    return loaded, tok, where
