"""The optional quality-classifier hook, with a tiny BERT classifier built in the test (no download)."""
from __future__ import annotations

import pytest

from njsl.documents import Document

from data_tagging import TaggingError, tag_documents


def _tiny_classifier(path, docstrings, num_labels: int):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(docstrings, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    config = BertConfig(vocab_size=fast.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, num_labels=num_labels)
    BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


def test_quality_scores_batched_and_per_document_agree(tmp_path, docstrings):
    import torch

    torch.set_num_threads(1)
    model = _tiny_classifier(tmp_path / "reg", docstrings, num_labels=1)
    docs = [Document(str(i), t) for i, t in enumerate(docstrings[:5])]
    batched = tag_documents(docs, "edu_classifier", quality_model=model, quality_batch_size=4,
                            quality_max_length=64, device="cpu")
    single = tag_documents(docs, "edu_classifier", quality_model=model, quality_batch_size=1,
                           quality_max_length=64, device="cpu")
    assert batched["edu_classifier"].notna().all()
    assert batched["edu_classifier"].tolist() == pytest.approx(single["edu_classifier"].tolist(), abs=1e-4)
    assert batched["edu_classifier"].nunique() > 1  # a real forward pass per document, not a constant

    model3 = _tiny_classifier(tmp_path / "cls", docstrings, num_labels=3)
    probs = tag_documents(docs, "quality", quality_model=model3, quality_label=2, device="cpu")
    assert ((probs["edu_classifier"] > 0) & (probs["edu_classifier"] < 1)).all()


def test_quality_needs_a_model(tmp_path):
    with pytest.raises(TaggingError, match="needs --quality_model"):
        tag_documents([Document("a", "text")], "edu_classifier")
    with pytest.raises(TaggingError, match="could not be loaded"):
        tag_documents([Document("a", "text")], "edu_classifier", quality_model=str(tmp_path / "missing"))
