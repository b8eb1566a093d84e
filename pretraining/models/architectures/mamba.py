"""Mamba models through Hugging Face ``transformers``' Mamba classes.

* Causal LM (``clm``): ``transformers.MambaForCausalLM`` as is. Without the CUDA kernels (``mamba-ssm``,
  ``causal-conv1d``) transformers runs its pure-PyTorch selective scan, so it trains on CPU (slowly) and
  on GPU (faster once the kernels are installed; nothing here changes).
* Masked LM (``mlm``): Mamba is causal by construction, so a bidirectional model runs, in every block, one
  ``MambaMixer`` left-to-right and a second one over the reversed sequence and adds the two (the
  "BiMamba" layout of Caduceus/Vim, without weight sharing). Padding is zeroed inside the mixers
  (``attention_mask``), so pads never feed state into real positions in either direction.

This file depends on torch and transformers only, so ``save_pretrained`` can copy it next to the weights
(``auto_map``) for ``AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForMaskedLM, MambaConfig
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.mamba.modeling_mamba import MambaMixer, MambaPreTrainedModel, MambaRMSNorm


class BiMambaConfig(MambaConfig):
    """``MambaConfig`` for the bidirectional (masked-LM) model; same fields."""

    model_type = "njsl_bimamba"


class BiMambaBlock(nn.Module):
    """x + fwd(RMSNorm(x)) + reverse(bwd(reverse(RMSNorm(x))))."""

    def __init__(self, config: BiMambaConfig, layer_idx: int):
        super().__init__()
        self.norm = MambaRMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.fwd = MambaMixer(config, layer_idx=layer_idx)
        self.bwd = MambaMixer(config, layer_idx=layer_idx)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)
        back_mask = None if attention_mask is None else attention_mask.flip(1)
        y = self.fwd(h, attention_mask=attention_mask)
        y = y + self.bwd(h.flip(1), attention_mask=back_mask).flip(1)
        return x + y


class BiMambaModel(MambaPreTrainedModel):
    config_class = BiMambaConfig
    _no_split_modules = ["BiMambaBlock"]

    def __init__(self, config: BiMambaConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(BiMambaBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm_f = MambaRMSNorm(config.hidden_size, eps=config.layer_norm_epsilon)
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


class BiMambaForMaskedLM(MambaPreTrainedModel):
    """Bidirectional Mamba with an LM head; ``labels`` hold original ids at masked positions, else -100."""

    config_class = BiMambaConfig
    _tied_weights_keys = {"lm_head.weight": "backbone.embeddings.weight"}
    _no_split_modules = ["BiMambaBlock"]

    def __init__(self, config: BiMambaConfig):
        super().__init__(config)
        self.backbone = BiMambaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.backbone.embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> MaskedLMOutput:
        logits = self.lm_head(self.backbone(input_ids, attention_mask).to(self.lm_head.weight.dtype))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                   ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits)


AutoConfig.register(BiMambaConfig.model_type, BiMambaConfig, exist_ok=True)
AutoModelForMaskedLM.register(BiMambaConfig, BiMambaForMaskedLM, exist_ok=True)
BiMambaConfig.register_for_auto_class()
BiMambaForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
