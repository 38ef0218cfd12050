"""Model presets: a tiny model for tests, a 100M model, and the paper's 500M and 1B decoders.

Parameter counts with a vocabulary of 32,768 (tied embeddings; ``tests/test_train_model.py``
checks them against the built models):

========  ======  ======  ===========  ========  ====  ===============  ===========
preset    layers  hidden  heads (kv)   head dim  FFN   parameters       without emb.
========  ======  ======  ===========  ========  ====  ===============  ===========
tiny      2       64      4 (2)        16        128   2,171,456        74,304
40m       8       512     8 (4)        64        1536  41,959,936       25,182,720
100m      12      768     12 (4)       64        2048  100,697,856      75,532,032
500m      24      1024    24 (2)       42        4864  445,919,808      412,365,376
1b        30      1728    32 (4)       54        4752  997,378,272      940,755,168
========  ======  ======  ===========  ========  ====  ===============  ===========

The 500M and 1B shapes are the paper's (Qwen2-style, RoPE theta 1e6); ``100m`` is a GPT-2
small sized Qwen2 (head dim 64, 3:1 grouped-query attention); ``40m`` is the small model the
raw-vs-L2T comparison recipe trains in minutes on one GPU (``recipes/novels-compare.json``).
The embedding grows with the vocabulary: with Qwen2's 151,936 ids the 500M preset has
567,947,840 parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from l2t._l2t import ConfigError
from l2t.train.model import ModelConfig, padded_vocab

# The shapes without the vocabulary, which comes from the tokenizer.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_layers": 2,
        "num_heads": 4,
        "num_kv_heads": 2,
        "head_dim": 16,
    },
    "40m": {
        "hidden_size": 512,
        "intermediate_size": 1536,
        "num_layers": 8,
        "num_heads": 8,
        "num_kv_heads": 4,
        "head_dim": 64,
    },
    "100m": {
        "hidden_size": 768,
        "intermediate_size": 2048,
        "num_layers": 12,
        "num_heads": 12,
        "num_kv_heads": 4,
        "head_dim": 64,
    },
    "500m": {
        "hidden_size": 1024,
        "intermediate_size": 4864,
        "num_layers": 24,
        "num_heads": 24,
        "num_kv_heads": 2,
        "head_dim": 42,
    },
    "1b": {
        "hidden_size": 1728,
        "intermediate_size": 4752,
        "num_layers": 30,
        "num_heads": 32,
        "num_kv_heads": 4,
        "head_dim": 54,
    },
}


def preset(name: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a preset for a tokenizer of `vocab_size` ids.

    Args:
        name: ``tiny``, ``40m``, ``100m``, ``500m`` or ``1b``.
        vocab_size: the tokenizer's vocabulary size; rounded up to a multiple of 128.
        **overrides: any other :class:`ModelConfig` field (``max_position_embeddings``,
            ``rope_theta``, ...).

    Returns:
        The config.

    """
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}")
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown model config keys: {unknown}")
    return ModelConfig(
        **{**PRESETS[name], "vocab_size": padded_vocab(vocab_size), **overrides},
    )
