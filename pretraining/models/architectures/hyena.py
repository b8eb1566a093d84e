"""A small, readable Hyena language model (Poli et al., 2023, "Hyena Hierarchy"), as Hugging Face classes.

A Hyena block replaces attention by an *implicit long convolution with gating*:

    x_0, x_1, ..., x_N, v = split(short_conv(in_proj(u)))      # N = order (2 by default)
    for n in 1..N:   v = h_n * (x_n ⊙ v)                      # long convolution with an implicit filter h_n
    y = out_proj(x_0 ⊙ v)

Each filter ``h_n`` has one value per position and channel, produced by a small MLP (with sine activations)
from a positional encoding of t = 0..L-1, times an exponential decay window; so its parameter count does not
grow with the sequence length. The convolution is computed by FFT in O(L log L):

* causal (``bidirectional=False``, for next-token training): the FFT is zero-padded to 2L so the circular
  convolution equals the linear one and position i only sees positions <= i;
* bidirectional (for masked-LM training): a second filter runs over the reversed sequence, so each position
  sees both sides; padding positions are zeroed before every mixing step so they never leak into real ones.

This file depends on torch and transformers only: ``save_pretrained`` copies it next to the weights
(``auto_map``), so an exported folder loads with ``AutoModelForCausalLM.from_pretrained(folder,
trust_remote_code=True)`` (or without it, once this module has been imported, which registers the classes).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, GenerationMixin,
                          PreTrainedConfig, PreTrainedModel)
from transformers.modeling_outputs import CausalLMOutput, MaskedLMOutput


class HyenaConfig(PreTrainedConfig):
    """Hyena hyper-parameters (names follow the JSON model configs: d_model, n_layer, d_intermediate)."""

    model_type = "njsl_hyena"

    vocab_size: int = 64
    d_model: int = 256
    n_layer: int = 4
    d_intermediate: int = 1024  # MLP hidden size of each block
    max_position_embeddings: int = 2048  # longest sequence the implicit filters are evaluated for
    order: int = 2  # number of gated long convolutions per operator
    filter_order: int = 64  # width of the filter MLP
    filter_emb_dim: int = 33  # positional features fed to the filter MLP: t plus (dim-1)/2 cos/sin pairs
    short_filter_order: int = 3  # kernel of the depthwise short convolution
    bidirectional: bool = False
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None

    @property
    def hidden_size(self) -> int:  # the name most HF tooling (lm-eval, FLOP counters) looks for
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layer


# ---------------------------------------------------------------------------------------------- filters
class Sin(nn.Module):
    """sin(w ⊙ x) with a learned frequency per channel: lets the filter MLP represent high frequencies."""

    def __init__(self, dim: int, w: float = 1.0):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.freq * x)


class ImplicitFilter(nn.Module):
    """Produces ``n_filters`` long filters of shape (n_filters, channels, L) from positions 0..L-1."""

    def __init__(self, channels: int, n_filters: int, emb_dim: int, width: int, max_len: int,
                 fast_decay_pct: float = 0.3, slow_decay_pct: float = 1.5, target: float = 1e-2):
        super().__init__()
        if emb_dim < 3 or emb_dim % 2 == 0:
            raise ValueError(f"filter_emb_dim must be odd and >= 3, got {emb_dim}")
        self.channels, self.n_filters, self.max_len, self.bands = channels, n_filters, max_len, (emb_dim - 1) // 2
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim, width), Sin(width),
            nn.Linear(width, width), Sin(width),
            nn.Linear(width, n_filters * channels, bias=False),
        )
        for layer in self.mlp:
            # a plain attribute (read by init_schemes); nn.Module's __setattr__ is typed for tensors/modules only
            object.__setattr__(layer, "_keep_default_init", True)
        # Exponential decay window: channels range from slow-decaying (long-range) to fast (local) filters.
        self.max_decay = math.log(target) / fast_decay_pct
        self.min_decay = math.log(target) / slow_decay_pct

    def positions(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised time t (L, 1) and the MLP input z = [t, cos(2π f pos/Lmax), sin(...)] (L, emb_dim).

        Computed on the fly (cheap) rather than stored as buffers, so meta-device construction and
        ``from_pretrained`` need no special handling.
        """
        pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
        t = pos / max(self.max_len - 1, 1)
        freqs = torch.linspace(1e-4, self.bands - 1, self.bands, device=device)[None, :]
        angle = 2 * math.pi * freqs * pos / self.max_len
        return t, torch.cat([t, torch.cos(angle), torch.sin(angle)], dim=-1)

    def forward(self, length: int) -> torch.Tensor:
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_position_embeddings {self.max_len}")
        first = self.mlp[0]
        assert isinstance(first, nn.Linear)
        weight = first.weight
        device = weight.device
        t, z = self.positions(length, device)
        deltas = torch.linspace(self.min_decay, self.max_decay, self.n_filters * self.channels, device=device)
        h = self.mlp(z.to(weight.dtype)) * torch.exp(-t * deltas.abs()[None, :])  # (L, n*C)
        return h.T.reshape(self.n_filters, self.channels, length)


def fft_long_conv(u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Causal convolution of u (B, C, L) with h (C, L): y[t] = sum_{s<=t} h[s] u[t-s], via FFT of size 2L.

    Zero-padding to 2L makes the FFT's circular convolution equal to the linear one, so no output position
    wraps around to later inputs. Computed in float32 (half-precision FFTs are limited and inexact).
    """
    length = u.shape[-1]
    n = 2 * length
    u_f = torch.fft.rfft(u.float(), n=n)
    h_f = torch.fft.rfft(h.float(), n=n)
    return torch.fft.irfft(u_f * h_f, n=n)[..., :length].to(u.dtype)


# --------------------------------------------------------------------------------------------- operator
class HyenaOperator(nn.Module):
    """The Hyena mixing layer (replaces self-attention)."""

    def __init__(self, config: HyenaConfig):
        super().__init__()
        d, order = config.d_model, config.order
        self.order, self.bidirectional = order, config.bidirectional
        self.in_proj = nn.Linear(d, (order + 1) * d)
        self.out_proj = nn.Linear(d, d)
        k = config.short_filter_order
        # Depthwise short conv: causal = pad k-1 on the left only; bidirectional = centred.
        self.short_pad = (k - 1, 0) if not config.bidirectional else ((k - 1) // 2, k // 2)
        self.short_filter = nn.Conv1d((order + 1) * d, (order + 1) * d, k, groups=(order + 1) * d)
        n_filters = order * (2 if config.bidirectional else 1)
        self.filter = ImplicitFilter(d, n_filters, config.filter_emb_dim, config.filter_order,
                                     config.max_position_embeddings)
        self.filter_bias = nn.Parameter(torch.randn(order, d))  # skip term: y = h * v + bias ⊙ v
        self.dropout = nn.Dropout(config.dropout)

    def long_conv(self, v: torch.Tensor, h: torch.Tensor, n: int) -> torch.Tensor:
        y = fft_long_conv(v, h[n])
        if self.bidirectional:  # anti-causal half: convolve the reversed sequence with its own filter
            y = y + fft_long_conv(v.flip(-1), h[self.order + n]).flip(-1)
        return y + v * self.filter_bias[n][None, :, None]

    def forward(self, u: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """u: (B, L, d); mask: (B, L) with 1 for real tokens, 0 for padding (or None)."""
        length = u.shape[1]
        keep = None if mask is None else mask[:, None, :].to(u.dtype)  # (B, 1, L)
        z = self.in_proj(u).transpose(1, 2)  # (B, (N+1)d, L)
        if keep is not None:
            z = z * keep  # padding must not reach real positions through the short conv
        z = self.short_filter(F.pad(z, self.short_pad))
        *xs, v = z.chunk(self.order + 1, dim=1)
        h = self.filter(length)
        for n, x in enumerate(reversed(xs[1:])):
            v = v * x
            if keep is not None:
                v = v * keep
            v = self.long_conv(v, h, n)
        y = (v * xs[0]).transpose(1, 2)
        return self.dropout(self.out_proj(y))


class HyenaBlock(nn.Module):
    """Pre-norm residual block: x + Hyena(LN(x)), then x + MLP(LN(x)) (the transformer layout)."""

    def __init__(self, config: HyenaConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mixer = HyenaOperator(config)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, config.d_intermediate), nn.GELU(approximate="tanh"),
                                 nn.Linear(config.d_intermediate, config.d_model), nn.Dropout(config.dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


# ------------------------------------------------------------------------------------------------ models
class HyenaPreTrainedModel(PreTrainedModel):
    config_class = HyenaConfig
    config: HyenaConfig
    base_model_prefix = "backbone"
    _no_split_modules = ["HyenaBlock"]
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        # The filter MLP keeps PyTorch's default (fan-in) init: N(0, 0.02) would make every filter ~0.
        if isinstance(module, nn.Linear) and not getattr(module, "_keep_default_init", False):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class HyenaModel(HyenaPreTrainedModel):
    """Embeddings + Hyena blocks + final LayerNorm; returns hidden states (B, L, d)."""

    def __init__(self, config: HyenaConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(HyenaBlock(config) for _ in range(config.n_layer))
        self.norm_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        assert isinstance(value, nn.Embedding)  # HF's resize_token_embeddings hands a new nn.Embedding
        self.embeddings = value

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.norm_f(x)


class _HyenaLMBase(HyenaPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "backbone.embeddings.weight"}

    def __init__(self, config: HyenaConfig):
        super().__init__(config)
        self.backbone = HyenaModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.backbone.embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value


class HyenaForCausalLM(_HyenaLMBase, GenerationMixin):
    """Causal Hyena LM. ``labels`` (optional) are the input ids; shifted inside, -100 ignored."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> CausalLMOutput:
        # No recurrent cache: generation recomputes the prefix each step (fine for evaluation-size use).
        logits = self.lm_head(self.backbone(input_ids, attention_mask))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                   labels[:, 1:].reshape(-1), ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, *args: Any, **kwargs: Any) -> dict:
        # no cache: the whole prefix each step (generate passes attention_mask by keyword)
        return {"input_ids": input_ids, "attention_mask": kwargs.get("attention_mask")}


class HyenaForMaskedLM(_HyenaLMBase):
    """Bidirectional Hyena for masked-LM training. ``labels``: original ids at masked positions, else -100."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        logits = self.lm_head(self.backbone(input_ids, attention_mask))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                   ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits)


# Registering makes AutoModel*.from_pretrained work in this process; register_for_auto_class makes
# save_pretrained copy this file and write auto_map, so other processes can load with trust_remote_code.
AutoConfig.register(HyenaConfig.model_type, HyenaConfig, exist_ok=True)
AutoModelForCausalLM.register(HyenaConfig, HyenaForCausalLM, exist_ok=True)
AutoModelForMaskedLM.register(HyenaConfig, HyenaForMaskedLM, exist_ok=True)
HyenaConfig.register_for_auto_class()
HyenaForCausalLM.register_for_auto_class("AutoModelForCausalLM")
HyenaForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
