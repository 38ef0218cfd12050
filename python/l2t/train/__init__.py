"""Training L2T models: a compact Qwen2-compatible decoder, its presets and HF export.

>>> from l2t.train import CausalLM, preset
>>> cfg = preset("tiny", vocab_size=2000)
>>> cfg.vocab_size
2048
"""

from l2t.train.export import export_hf, from_hf_config, load_hf, to_hf_config
from l2t.train.model import (
    CausalLM,
    ModelConfig,
    attention,
    chunked_cross_entropy,
    document_block_mask,
    document_mask,
    padded_vocab,
)
from l2t.train.presets import PRESETS, preset

__all__ = [
    "PRESETS",
    "CausalLM",
    "ModelConfig",
    "attention",
    "chunked_cross_entropy",
    "document_block_mask",
    "document_mask",
    "export_hf",
    "from_hf_config",
    "load_hf",
    "padded_vocab",
    "preset",
    "to_hf_config",
]
