"""``edu_classifier``: an optional quality score from any Hugging Face sequence classifier (off by default).

``--feature edu_classifier --quality_model NAME_OR_PATH``. A single-output (regression) head gives its raw
score, as the FineWeb-Edu classifier the paper used (``HuggingFaceFW/fineweb-edu-classifier``, 0-5 scale);
a multi-class head gives the probability of ``--quality_label`` (index, default the last class). Batched,
truncated to ``--quality_max_length`` tokens, on ``--device`` (default: CUDA when available, else CPU).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from njsl.documents import Document

from data_tagging.registry import Tagger, TaggingError, register


@register
class QualityClassifier(Tagger):
    name = "edu_classifier"
    aliases = ("quality",)
    columns = ("edu_classifier",)
    description = "score of an HF sequence classifier (--quality_model), e.g. the FineWeb-Edu classifier"

    def __init__(self, quality_model: str | None = None, quality_batch_size: int = 16,
                 quality_max_length: int = 512, quality_label: int = -1, device: str | None = None) -> None:
        if not quality_model:
            raise TaggingError("--feature edu_classifier needs --quality_model NAME_OR_PATH "
                               "(e.g. HuggingFaceFW/fineweb-edu-classifier, or a local folder)")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(quality_model)
            self.model = AutoModelForSequenceClassification.from_pretrained(quality_model)
        except Exception as exc:  # hub/file errors of several types all mean "cannot load"
            raise TaggingError(f"--quality_model {quality_model!r} could not be loaded: {str(exc)[:200]}") from exc
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.batch_size = int(quality_batch_size)
        # Never feed more positions than the model has (RoBERTa-style models reserve 2, their tokenizer knows).
        limits = [int(quality_max_length), getattr(self.model.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        self.max_length = min(x for x in limits if isinstance(x, int) and 0 < x < 1_000_000)
        self.label = int(quality_label)
        self.torch = torch

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        scores: list[float] = []
        for start in range(0, len(docs), self.batch_size):
            texts = [d.text for d in docs[start:start + self.batch_size]]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.max_length).to(self.device)
            with self.torch.inference_mode():
                logits = self.model(**enc).logits.float()
            batch = logits.squeeze(-1) if logits.shape[-1] == 1 else logits.softmax(-1)[:, self.label]
            scores += batch.cpu().tolist()
        return [{"edu_classifier": float(s)} for s in scores]
