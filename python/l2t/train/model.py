"""A compact Qwen2-compatible decoder in plain torch, with per-example attention isolation.

The modules carry Hugging Face's names (``model.embed_tokens``,
``model.layers.{i}.self_attn.q_proj``, ``model.layers.{i}.mlp.gate_proj``, ``model.norm``,
``lm_head``, ...), so ``state_dict()`` keys are exactly those of ``transformers.Qwen2ForCausalLM``
and a checkpoint moves between the two with no renaming (:mod:`l2t.train.export`).

What differs from the Hugging Face module is what training on packed L2T rows needs:

- ``forward(..., doc_ids=..., isolate=True)`` lets a token attend only to earlier tokens of its
  own example (``doc_ids`` as :class:`l2t.data.L2TStream` gives them); ``isolate=False`` is the
  paper's packing, where the examples of a row see each other.
- Isolation has two implementations (``CausalLM(cfg, attention=...)``): ``"sdpa"`` gives SDPA a
  dense boolean mask (any device, but no flash kernel takes a mask), ``"flex"`` gives
  FlexAttention a block mask, whose compiled kernel skips the blocks no query may see (CUDA
  training; the CPU has its forward pass only). ``"auto"`` takes flex on CUDA and SDPA elsewhere;
  un-isolated rows always use SDPA's causal flash path.
- Head dims that are not a multiple of 8 (16 for flex; the paper's 500M model uses 42) are
  zero-padded inside the attention call, so the fused kernels still take them; the result is
  unchanged.
- The loss is a chunked cross-entropy fused with the LM head: the ``[tokens, vocab]`` float32
  logits never exist all at once, in the forward or the backward pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
from torch.utils.checkpoint import checkpoint

from l2t._l2t import ConfigError
from l2t.settings import check_fields

IGNORE_INDEX = -100
VOCAB_MULTIPLE = 128
HEAD_DIM_MULTIPLE = 8
# FlexAttention's Triton kernels tile the head dim in steps of 16.
FLEX_HEAD_DIM_MULTIPLE = 16
ATTENTION_BACKENDS = ("auto", "sdpa", "flex")
# Float32 logits per cross-entropy chunk when no chunk size is given: 2**26 floats, 256 MiB.
_CE_CHUNK_ELEMENTS = 1 << 26


def padded_vocab(n: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """`n` rounded up to a multiple of `multiple` (128: the LM head's matmuls tile evenly).

    Args:
        n: the tokenizer's vocabulary size (added tokens included).
        multiple: the rounding unit.

    Returns:
        The embedding size to build the model with; the extra rows are never input ids.

    """
    if n < 1 or multiple < 1:
        raise ConfigError(f"vocabulary size and multiple must be >= 1, not {n} and {multiple}")
    return -(-n // multiple) * multiple


@dataclass
class ModelConfig:
    """The shape of a Qwen2-style decoder.

    Attributes:
        vocab_size: embedding rows (use :func:`padded_vocab` on the tokenizer's size).
        hidden_size: width of the residual stream.
        intermediate_size: width of the SwiGLU MLP.
        num_layers: decoder blocks.
        num_heads: query heads.
        num_kv_heads: key/value heads (grouped-query attention; divides ``num_heads``).
        head_dim: width of one head; may differ from ``hidden_size // num_heads`` (the paper's
            500M model: 1024 hidden, 24 heads of 42). ``None``: ``hidden_size // num_heads``.
        rope_theta: RoPE base.
        rms_norm_eps: RMSNorm epsilon.
        max_position_embeddings: the longest context the model is meant for (recorded in the
            exported config; RoPE itself has no limit).
        tie_word_embeddings: the LM head shares the embedding matrix.
        init_std: standard deviation of the normal initialisation of linear and embedding weights.

    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int | None = None
    rope_theta: float = 1e6
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = True
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.head_dim is None:
            self.head_dim = self.hidden_size // max(self.num_heads, 1)
        sizes = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
        }
        bad = [f"{k}={v}" for k, v in sizes.items() if not isinstance(v, int) or v < 1]
        if bad:
            raise ConfigError(f"model sizes must be positive integers: {', '.join(bad)}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads "
                f"({self.num_kv_heads})"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head_dim must be even for RoPE, not {self.head_dim}")
        if self.rope_theta <= 0 or self.rms_norm_eps <= 0 or self.init_std < 0:
            raise ConfigError("rope_theta and rms_norm_eps must be > 0, init_std >= 0")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """A config from :meth:`to_dict`'s output; unknown keys are an error."""
        check_fields(cls, data, "model config keys")
        return cls(**data)

    def num_parameters(self, *, embeddings: bool = True) -> int:
        """Trainable parameters of the model (a tied LM head counted once).

        Args:
            embeddings: count the embedding (and an untied LM head) too.

        """
        assert self.head_dim is not None  # set by __post_init__
        h = self.hidden_size
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        attention = h * q + q + 2 * (h * kv + kv) + q * h  # q/k/v with biases, o without
        mlp = 3 * h * self.intermediate_size
        layer = attention + mlp + 2 * h  # two RMSNorm weights
        total = self.num_layers * layer + h  # final norm
        if embeddings:
            total += self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return total


# -- building blocks -------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """Root-mean-square norm, computed in float32 as Hugging Face's ``Qwen2RMSNorm``."""

    def __init__(self, size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` normalised over its last dim and scaled."""
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        # The same operation order as HF (cast, then scale) keeps exported logits identical.
        return self.weight * x32.to(dtype)


def rope_cos_sin(
    position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE tables for explicit positions, as HF's default rotary embedding makes them.

    Args:
        position_ids: ``[batch, seq]`` positions (restarting per packed example when isolated).
        head_dim: width of one head.
        theta: the RoPE base.
        dtype: dtype of the returned tables.

    Returns:
        ``(cos, sin)``, each ``[batch, seq, head_dim]``.

    """
    # Computed per call rather than held in a buffer: a model built on the meta device (or
    # moved with ``to_empty``) then has no table to re-initialise, and the cost is negligible.
    inv_freq = 1.0 / (
        theta
        ** (
            torch.arange(0, head_dim, 2, dtype=torch.int64, device=position_ids.device).float()
            / head_dim
        )
    )
    freqs = position_ids[..., None].float() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates ``x`` (``[batch, heads, seq, head_dim]``) by the tables of :func:`rope_cos_sin`."""
    cos, sin = cos.unsqueeze(1).to(x.dtype), sin.unsqueeze(1).to(x.dtype)
    return x * cos + _rotate_half(x) * sin


def document_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """The boolean attention mask of packed rows: causal and within one example.

    Args:
        doc_ids: ``[batch, seq]`` example number of each token in its row (0 on pads).

    Returns:
        ``[batch, 1, seq, seq]``, True where query ``i`` may attend to key ``j``: ``j <= i`` and
        both tokens belong to the same example. Pads (doc 0) attend among themselves, which is
        harmless (their labels are ignored) and keeps every query row non-empty (no NaN).

    """
    seq = doc_ids.shape[-1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=doc_ids.device).tril()
    same = doc_ids[:, :, None] == doc_ids[:, None, :]
    return (same & causal)[:, None]


@torch.compiler.disable
def document_block_mask(doc_ids: torch.Tensor) -> BlockMask:
    """:func:`document_mask` as a FlexAttention block mask (the same attention pattern).

    Built outside any compiled graph (it is made once per forward pass and shared by every
    layer); blocks of 128 x 128 positions that no query may see are skipped by the kernel, so
    a row of many short examples costs less than a causal row.

    Args:
        doc_ids: ``[batch, seq]`` example number of each token in its row (0 on pads).

    """
    batch, seq = doc_ids.shape

    def same_example_causal(
        b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, k: torch.Tensor
    ) -> torch.Tensor:
        return (k <= q) & (doc_ids[b, q] == doc_ids[b, k])

    return create_block_mask(same_example_causal, batch, None, seq, seq, device=doc_ids.device)


_compiled_flex: Any = None


def _flex(*args: Any, **kwargs: Any) -> torch.Tensor:
    """FlexAttention, compiled once: uncompiled it would materialise every score."""
    global _compiled_flex
    if torch.compiler.is_compiling():  # inside a compiled model: its graph takes the kernel
        return flex_attention(*args, **kwargs)
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex(*args, **kwargs)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | BlockMask | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    multiple: int | None = None,
) -> torch.Tensor:
    """Scaled dot-product attention with grouped KV heads and any head dim.

    Args:
        q: ``[batch, heads, seq, head_dim]``.
        k: ``[batch, kv_heads, seq, head_dim]``.
        v: like ``k``.
        mask: boolean ``[batch, 1, seq, seq]`` (True: attend) for SDPA, a FlexAttention
            :class:`BlockMask` (:func:`document_block_mask`) for FlexAttention, or None.
        is_causal: plain causal attention (with ``mask=None``).
        scale: softmax scale; default ``1 / sqrt(head_dim)`` of the *unpadded* head.
        multiple: head dims are zero-padded up to a multiple of this inside the kernel call
            (default 8 for SDPA's fused kernels, 16 for FlexAttention); 1 turns padding off.

    Returns:
        ``[batch, heads, seq, head_dim]``.

    """
    head_dim = q.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(head_dim)
    flex = isinstance(mask, BlockMask)
    if multiple is None:
        multiple = FLEX_HEAD_DIM_MULTIPLE if flex else HEAD_DIM_MULTIPLE
    gqa = q.shape[1] != k.shape[1]
    if gqa and mask is not None and not flex:
        # SDPA's memory-efficient kernel (the one that takes a mask) has no grouped-query
        # support and would fall back to the slow math path: repeat the KV heads instead.
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        gqa = False
    pad = -head_dim % multiple
    if pad:
        # Zeros add nothing to q.k, and the padded value columns are sliced off below; the
        # scale is that of the real head, passed explicitly.
        q, k, v = (F.pad(t, (0, pad)) for t in (q, k, v))
    if flex:
        out = _flex(q, k, v, block_mask=mask, scale=scale, enable_gqa=gqa)
    else:
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal and mask is None,
            scale=scale,
            enable_gqa=gqa,
        )
    return out[..., :head_dim] if pad else out


class Qwen2Attention(nn.Module):
    """Grouped-query self-attention with q/k/v biases and RoPE (HF ``Qwen2Attention``'s weights)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        assert cfg.head_dim is not None
        self.num_heads, self.num_kv_heads, self.head_dim = (
            cfg.num_heads,
            cfg.num_kv_heads,
            cfg.head_dim,
        )
        q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, q, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, kv, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, kv, bias=True)
        self.o_proj = nn.Linear(q, cfg.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | BlockMask | None,
    ) -> torch.Tensor:
        """Attention output for ``x`` (``[batch, seq, hidden]``); ``mask`` None means causal."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        out = attention(q, k, v, mask=mask, is_causal=mask is None)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class Qwen2MLP(nn.Module):
    """SwiGLU feed-forward without biases."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``down(silu(gate(x)) * up(x))``."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Qwen2DecoderLayer(nn.Module):
    """Pre-norm block: attention and MLP, each added to the residual stream."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attn = Qwen2Attention(cfg)
        self.mlp = Qwen2MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | BlockMask | None,
    ) -> torch.Tensor:
        """The block's output for the residual stream ``x``."""
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    """Embedding, decoder blocks and final norm (HF's ``model.`` prefix)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Qwen2DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


# -- the model -------------------------------------------------------------------------------


def unwrap(module: Any) -> Any:
    """The plain module under ``torch.compile`` (``_orig_mod``) and DDP (``module``) wrappers."""
    while True:
        inner = getattr(module, "_orig_mod", None)
        if inner is None:
            inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


def unwrapped_key(key: str) -> str:
    """A state-dict key without the prefixes the ``torch.compile`` and DDP wrappers add."""
    while key.startswith(("_orig_mod.", "module.")):
        key = key.split(".", 1)[1]
    return key


class CausalLM(nn.Module):
    """A Qwen2-compatible causal language model (``state_dict()`` keys as HF's).

    Args:
        cfg: the model shape.
        attention: how isolated rows are attended: ``"sdpa"`` (dense boolean mask, any
            device), ``"flex"`` (FlexAttention block mask; training needs CUDA) or ``"auto"``
            (flex on CUDA, SDPA elsewhere, decided per call from the inputs' device).

    Attributes:
        gradient_checkpointing: recompute each block in the backward pass (activation
            checkpointing) while training; off by default.

    """

    def __init__(self, cfg: ModelConfig, *, attention: str = "auto") -> None:
        super().__init__()
        if attention not in ATTENTION_BACKENDS:
            raise ConfigError(f"attention must be one of {ATTENTION_BACKENDS}, not {attention!r}")
        self.config = cfg
        self.attention = attention
        self.model = Qwen2Model(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.gradient_checkpointing = False
        self.tie_weights()
        self.init_weights()

    def tie_weights(self) -> None:
        """Points the LM head at the embedding when the config ties them (again after loading)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @torch.no_grad()
    def init_weights(self) -> None:
        """HF's initialisation: normal(0, init_std) weights, zero biases, unit norms."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, std)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)

    def num_parameters(self) -> int:
        """Distinct trainable parameters (a tied head counted once)."""
        return sum(p.numel() for p in self.parameters())

    def attention_backend(self, device: torch.device) -> str:
        """The isolation backend used for inputs on `device` (``"auto"`` resolved)."""
        if self.attention == "auto":
            return "flex" if device.type == "cuda" else "sdpa"
        return self.attention

    def isolation_mask(self, doc_ids: torch.Tensor) -> torch.Tensor | BlockMask:
        """The per-example causal mask of packed rows, in the form the backend takes."""
        if self.attention_backend(doc_ids.device) == "flex":
            return document_block_mask(doc_ids)
        return document_mask(doc_ids)

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        doc_ids: torch.Tensor | None = None,
        *,
        isolate: bool = True,
    ) -> torch.Tensor:
        """The final normed hidden states, ``[batch, seq, hidden]``; arguments as `forward`."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, seq], not {tuple(input_ids.shape)}")
        b, t = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device).expand(b, t)
        x = self.model.embed_tokens(input_ids)
        assert self.config.head_dim is not None
        cos, sin = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta, x.dtype)
        mask = self.isolation_mask(doc_ids) if isolate and doc_ids is not None else None
        for layer in self.model.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask)
        return self.model.norm(x)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        doc_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        isolate: bool = True,
        return_logits: bool = False,
        reduction: str = "mean",
        chunk_size: int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, or the next-token loss of ``labels``.

        Args:
            input_ids: ``[batch, seq]`` token ids.
            position_ids: ``[batch, seq]`` RoPE positions (restarting at each packed example
                when isolated, as :class:`l2t.data.L2TStream` makes them); default
                ``0..seq-1`` in every row.
            doc_ids: ``[batch, seq]`` example number of each token in its row (0 on pads).
            labels: ``[batch, seq]`` targets aligned with ``input_ids`` as in Hugging Face
                (the shift happens here: position ``t`` predicts ``labels[t + 1]``);
                ``-100`` is ignored.
            isolate: with ``doc_ids``, a token attends only to earlier tokens of its own
                example; False (or no ``doc_ids``) is plain causal attention over the row.
            return_logits: with ``labels``, also compute and return the full logits (they are
                not needed for the loss, which never materialises them).
            reduction: ``"mean"`` over the non-ignored targets (0 when there are none, where
                ``F.cross_entropy`` would give NaN) or ``"sum"`` (for token-weighted gradient
                accumulation).
            chunk_size: tokens per cross-entropy chunk (default: about 256 MiB of float32
                logits).

        Returns:
            Without ``labels``, the logits ``[batch, seq, vocab]`` (in the compute dtype);
            with them, ``(loss, logits)`` where ``logits`` is None unless ``return_logits``.

        """
        h = self.hidden_states(input_ids, position_ids, doc_ids, isolate=isolate)
        if labels is None:
            return self.lm_head(h)
        # HF's shift without copying the hidden states: the target of the last position is
        # ignored instead of dropping that position.
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
        loss = chunked_cross_entropy(
            h.reshape(-1, h.shape[-1]),
            self.lm_head.weight,
            targets.reshape(-1),
            chunk_size=chunk_size,
            reduction=reduction,
        )
        return loss, self.lm_head(h) if return_logits else None


# -- loss ------------------------------------------------------------------------------------


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    """The matmul dtype: autocast's when it is on for this device, else the hidden states'."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return hidden.dtype


def _ce_chunks(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    chunk: int,
    denom: torch.Tensor,
    dtype: torch.dtype,
    grads: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Loss (already divided by ``denom``) and, with ``grads``, its gradients, chunk by chunk."""
    w = weight.to(dtype)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_h = torch.empty_like(hidden) if grads else None
    grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if grads else None
    for s in range(0, hidden.shape[0], chunk):
        h = hidden[s : s + chunk].to(dtype)
        t = targets[s : s + chunk]
        valid = t != IGNORE_INDEX
        index = torch.where(valid, t, 0)
        logits = (h @ w.T).float()
        lse = torch.logsumexp(logits, dim=-1)
        picked = logits.gather(1, index[:, None]).squeeze(1)
        total = total + torch.where(valid, lse - picked, 0.0).sum()
        if grads:
            assert grad_h is not None and grad_w is not None
            # d(lse - picked)/dlogits = softmax - onehot, made in place in the logits buffer
            # so that a chunk costs one [chunk, vocab] float32 tensor.
            g = logits.sub_(lse[:, None]).exp_()
            g.scatter_add_(1, index[:, None], torch.full_like(lse[:, None], -1.0))
            g.mul_((valid.float() / denom)[:, None])
            g = g.to(dtype)
            grad_h[s : s + chunk] = (g @ w).to(hidden.dtype)
            grad_w += (g.T @ h).float()
    return total / denom, grad_h, grad_w


class _LinearCrossEntropy(torch.autograd.Function):
    """LM head and cross-entropy in one: gradients are made chunk by chunk in the forward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        chunk: int,
        denom: torch.Tensor,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            loss, grad_h, grad_w = _ce_chunks(hidden, weight, targets, chunk, denom, dtype, True)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        grad_h = grad_h * grad_out.to(grad_h.dtype)
        grad_w = (grad_w * grad_out).to(ctx.weight_dtype)
        return grad_h, grad_w, None, None, None, None


def chunked_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of ``hidden @ weight.T`` against ``targets``, without the full logits.

    The logits are made ``chunk_size`` tokens at a time, in the autocast dtype when autocast is
    on (float32 for the softmax); when gradients are needed they are computed in the same pass
    (``softmax - onehot`` times the chunk's inputs), so neither pass holds more than one chunk
    of ``[tokens, vocab]`` float32 logits. Gradients flow to ``hidden`` and ``weight``.

    Args:
        hidden: ``[tokens, hidden]`` final hidden states.
        weight: ``[vocab, hidden]`` LM head (the embedding when tied).
        targets: ``[tokens]`` target ids, already aligned with ``hidden`` (no shift here);
            ``-100`` is ignored.
        chunk_size: tokens per chunk (default: about 256 MiB of float32 logits per chunk).
        reduction: ``"mean"`` over the non-ignored targets (0 if there are none) or ``"sum"``.

    Returns:
        The scalar float32 loss.

    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(
            f"hidden must be [tokens, hidden] and targets [tokens], not {tuple(hidden.shape)} "
            f"and {tuple(targets.shape)}"
        )
    chunk = chunk_size or max(1, _CE_CHUNK_ELEMENTS // weight.shape[0])
    if reduction == "mean":
        denom = (targets != IGNORE_INDEX).sum().clamp(min=1).float()
    else:
        denom = torch.ones((), dtype=torch.float32, device=hidden.device)
    dtype = _compute_dtype(hidden)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, chunk, denom, dtype)
    with torch.autocast(hidden.device.type, enabled=False):
        return _ce_chunks(hidden, weight, targets, chunk, denom, dtype, False)[0]
