"""Unit tests of each tagger on stdlib text and code."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from njsl.documents import Document

from data_tagging import TaggingError, aggregate_features, resolve_features, tag_documents
from data_tagging.basic import load_tokenizer
from data_tagging.code_features import CodeFeatures, code_line_share, language_from_meta
from data_tagging.keywords import count_keywords
from data_tagging.parse import ParseFeatures, split_text

GERMAN = ("Die Katze sitzt auf dem Tisch und schaut aus dem Fenster. Morgen fahren wir mit dem Zug nach "
          "Berlin, weil wir dort unsere Freunde besuchen wollen. Das Wetter soll schön werden.")


@pytest.fixture(scope="module")
def parser() -> ParseFeatures:
    return ParseFeatures()


def test_resolve_features_sets_aliases_and_unknown():
    assert resolve_features("all") == ["char_len", "tokens", "parse", "keyword_ratios"]
    assert resolve_features("ttr,num_tokens,dep_parse") == ["tokens", "parse"]
    with pytest.raises(TaggingError, match="unknown feature 'nope'.*known:"):
        resolve_features("char_len,nope")


def test_char_len_and_whitespace_tokens(docstrings):
    docs = [Document("a", "the cat sat on the mat."), Document("b", docstrings[0])]
    df = tag_documents(docs, "char_len,ttr")
    assert list(df["id"]) == ["a", "b"]
    assert df.loc[0, "char_len"] == len("the cat sat on the mat.")
    assert df.loc[0, "num_tokens"] == 7  # the, cat, sat, on, the, mat, .
    assert df.loc[0, "unique_tokens"] == 6
    assert df.loc[0, "ttr"] == pytest.approx(6 / 7)
    assert 0 < df.loc[1, "ttr"] <= 1


def test_tokenizer_from_json_and_bad_name(tmp_path, docstrings):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(docstrings, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    ids = load_tokenizer(str(path))(["hello world"])[0]
    assert len(ids) >= 2 and all(isinstance(i, int) for i in ids)
    df = tag_documents([Document("x", docstrings[1])], "num_tokens", tokenizer=str(path))
    assert df.loc[0, "num_tokens"] > tag_documents([Document("x", docstrings[1])], "num_tokens").loc[0, "num_tokens"]
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path / "hf_tok"
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    assert load_tokenizer(str(folder))(["hello world"])[0] == ids  # an HF tokenizer folder, same ids
    with pytest.raises(TaggingError, match="--tokenizer 'no/such-tokenizer-here'"):
        load_tokenizer("no/such-tokenizer-here")


def test_keyword_counts_follow_the_papers_patterns():
    text = ("Question: How do I make tea? Answer: Use hot water and wait, but not too long.\n"
            "User: Check data: 3.14 and 50% of 1,000.\nAssistant: Go!")
    c = count_keywords(text)
    assert c["question_words"] == 1  # How
    assert c["imperative_verbs"] == 5  # do, make, Use, Check, Go: anywhere in the text, as in the paper
    assert c["conjunctions"] == 3  # and, but, and
    assert c["instructions_words"] == 5  # Question:, Answer:, User:, the "a:" of "data:", Assistant:
    assert c["numbers"] == 5  # 3 and 14, 50, 1 and 000: the integer branch of the paper's regex wins
    df = tag_documents([Document("d", text), Document("e", "Why? Why not.")], "keyword_ratios")
    assert df.loc[0, "instructions_words_ratio"] == pytest.approx(1e5 * 5 / len(text))
    feats = aggregate_features(df)
    assert feats["question_words_ratio"] == pytest.approx(1e5 * 3 / (len(text) + 13))  # pooled, the paper's unit
    assert feats["question_words_ratio_mean"] == pytest.approx((1e5 / len(text) + 2e5 / 13) / 2)


def test_keyword_ratios_agree_with_the_oracle(docstrings):
    """The data-file patterns against the paper's regexes written out literally in ``data_tagging.oracle``."""
    from data_tagging.oracle import oracle_keyword_ratios

    texts = docstrings[:30] + ["Q: What is 3.5%? A: Run it, or so they say. Data: 12."]
    df = tag_documents([Document(str(i), t) for i, t in enumerate(texts)], "keyword_ratios")
    for i, text in enumerate(texts):
        for key, value in oracle_keyword_ratios(text).items():
            assert df.loc[i, key] == pytest.approx(value), (key, text[:60])


def test_parse_features_on_docstrings(parser, docstrings):
    docs = [Document(str(i), t) for i, t in enumerate(docstrings[:6])]
    rows = parser.tag(docs)
    for row in rows:
        assert row["parse_skip_reason"] is None
        assert row["const_parse_num_words"] > 10
        assert 1 <= row["dep_parse_dep_head_dist_median"] <= row["dep_parse_dep_head_dist_90p"] \
            <= row["dep_parse_dep_head_dist_max"]
        assert row["dep_parse_dep_root_dist_max"] >= row["dep_parse_dep_root_dist_mean"] > 0
        assert row["dep_parse_dep_tree_depth_max"] >= row["dep_parse_dep_tree_depth_mean"] >= 1
        assert 0 < row["content_function_ratio"] < 1
        # word-weighted, as the paper's per-word list of sentence lengths (its CSV: ~42 against ~21 words/sentence)
        assert row["const_parse_words_per_sent_mean"] >= row["const_parse_num_words"] / row["const_parse_num_sentences"]


def test_parse_values_match_the_papers_definitions(parser):
    """Hand-counted on one sentence: punctuation is a word, the root has head distance 0 (the paper's stanza code)."""
    text = "The old man quickly wrote a long letter to his daughter."
    doc = parser.nlp(text)
    assert [t.dep_ for t in doc][4] == "ROOT" and doc[-1].head.i == 4  # "wrote" is the root, "." hangs on it
    row = parser.tag([Document("s", text)])[0]
    head = [abs(t.i - t.head.i) for t in doc]  # one sentence without whitespace tokens: ids are token indices
    root = [abs(t.i - 4) for t in doc]
    assert row["const_parse_num_words"] == 12 and row["const_parse_num_sentences"] == 1
    assert row["dep_parse_dep_head_dist_median"] == np.median(head)
    assert row["dep_parse_dep_head_dist_90p"] == pytest.approx(np.percentile(head, 90))
    assert row["dep_parse_dep_root_dist_max"] == 7
    assert row["dep_parse_dep_root_dist_mean"] == pytest.approx(np.mean(root))
    assert row["const_parse_words_per_sent_mean"] == 12 and row["const_parse_words_per_sent_std"] == 0


def test_parse_agrees_with_the_oracle(parser, docstrings):
    """The fast array code against the plain re-statement on the full pipeline (whitespace, several sentences)."""
    from data_tagging.language import import_spacy
    from data_tagging.oracle import oracle_parse_features

    full = import_spacy().load(parser.nlp.meta["lang"] + "_" + parser.nlp.meta["name"], exclude=["ner", "lemmatizer"])
    texts = docstrings[:8] + ["First line.\n\n  Second line,   with spaces!\nThird (short) one?"]
    rows = parser.tag([Document(str(i), t) for i, t in enumerate(texts)])
    for text, row in zip(texts, rows, strict=True):
        expected = oracle_parse_features(full(text))
        for key, value in expected.items():
            tol = 0.02 if key == "content_function_ratio" else 1e-9  # POS from the tag rules, not the ruler
            assert row[key] == pytest.approx(value, abs=tol), key


def test_pos_lookup_agrees_with_full_pipeline(parser, docstrings):
    """Content words come from the attribute_ruler's own tag rules instead of running it: check agreement."""
    from data_tagging.language import import_spacy

    full = import_spacy().load(parser.nlp.meta["lang"] + "_" + parser.nlp.meta["name"],
                               exclude=["ner", "lemmatizer"])
    text = " ".join(docstrings[:5])
    ours = parser.tag([Document("x", text)])[0]["content_function_ratio"]
    doc = full(text)
    words = [t for t in doc if not t.is_space]
    theirs = sum(t.pos_ in ("NOUN", "VERB", "ADJ", "ADV") for t in words) / len(words)
    assert ours == pytest.approx(theirs, abs=0.01)


def test_non_english_is_skipped_with_reason(parser):
    rows = parser.tag([Document("de", GERMAN), Document("en", "This is an English sentence about the weather.")])
    assert math.isnan(rows[0]["dep_parse_dep_head_dist_median"])
    assert rows[0]["parse_skip_reason"].startswith("non-English (de")
    assert rows[1]["parse_skip_reason"] is None and rows[1]["parse_language"] == "en"


def test_huge_document_is_bounded(docstrings):
    tagger = ParseFeatures(max_parse_chars=6000, chunk_chars=2000)
    text = "\n\n".join(docstrings) * 3
    row = tagger.tag([Document("big", text)])[0]
    assert row["parse_note"].startswith(f"parsed the first 6000 of {len(text)} characters")
    assert "split into" in row["parse_note"]
    assert 0 < row["const_parse_num_words"] < 2000
    pieces = split_text(text[:6000], 2000)
    assert "".join(pieces) == text[:6000] and all(len(p) <= 2000 for p in pieces)


CODE = {
    "python": "import os\nx = 1\ndef f(a, b=2):\n    y = a + x\n    return y\nfor i in range(3):\n    print(f(i))\n",
    "javascript": "const x = 1;\nfunction f(a) {\n  let y = a + x;\n  return y;\n}\nconsole.log(f(2));\n",
    "java": "public class A {\n  int x = 1;\n  int f(int a) {\n    int y = a + x;\n    return y;\n  }\n}\n",
    "c": "#include <stdio.h>\nint f(int a) {\n  int y = a + 1;\n  return y;\n}\n",
    "cpp": "#include <vector>\ntemplate <typename T> T f(T a) { auto y = a; return y; }\n"
           "int main() { std::vector<int> v; return f(1); }\n",
    "go": "package main\nfunc f(a int) int {\n\ty := a + 1\n\treturn y\n}\n",
    "rust": "fn f(a: i32) -> i32 {\n    let y = a + 1;\n    y\n}\n",
}


@pytest.fixture(scope="module")
def code_tagger() -> CodeFeatures:
    return CodeFeatures()


@pytest.mark.parametrize("lang", sorted(CODE))
def test_code_language_detected_and_measured(code_tagger, lang):
    row = code_tagger.tag([Document(lang, CODE[lang])])[0]
    assert row["code_language"] == lang
    assert row["code_skip_reason"] is None
    assert row["code_node_count"] > 10 and row["code_ast_depth_max"] >= 4
    assert row["code_error_ratio"] == 0
    assert row["code_def_use_dist_max"] >= 1  # e.g. y defined then returned on a later line


def test_code_def_use_distance_python(code_tagger):
    src = "a = 1\n\n\n\nb = a\nprint(b)\n"
    row = code_tagger.tag([Document("p", src, {"path": "x.py"})])[0]
    # uses: a (line 4, defined line 0 -> 4), b (line 5, defined line 4 -> 1); print has no definition
    assert row["code_def_use_lines_max"] == 4
    assert row["code_def_use_lines_mean"] == pytest.approx(2.5)
    # the paper's unit: bytes from the end of the definition to the start of the use
    a_use, b_use = src.index("= a") + 2, src.index("(b)") + 1
    assert row["code_def_use_dist_max"] == a_use - 1 and row["code_def_use_dist_median"] == pytest.approx(
        (a_use - 1 + b_use - (src.index("b =") + 1)) / 2)


def test_code_on_stdlib_files_and_prose(code_tagger, stdlib_dir: Path, docstrings):
    src = (stdlib_dir / "textwrap.py").read_text()
    row = code_tagger.tag([Document("tw", src)])[0]
    assert row["code_language"] == "python" and row["code_node_count"] > 1000
    prose = code_tagger.tag([Document("p", docstrings[3])])[0]
    assert prose["code_skip_reason"].startswith("not code")
    chinese = "这是一个中文句子。我们今天去公园散步，天气很好。"
    german = code_tagger.tag([Document("de", GERMAN), Document("zh", chinese)])
    assert all(r["code_skip_reason"].startswith("not code") for r in german)
    assert code_line_share(src) > 0.3 > code_line_share(docstrings[3])
    assert language_from_meta({"path": "src/lib.rs"}) == "rust"
    assert language_from_meta({"language": "C++"}) == "cpp"


def test_code_fixed_language_and_bad_language():
    tagger = CodeFeatures(code_language="go")
    assert tagger.tag([Document("g", CODE["go"])])[0]["code_language"] == "go"
    with pytest.raises(TaggingError, match="no tree-sitter grammar for 'nosuchlang'"):
        CodeFeatures(code_language="nosuchlang")


def test_empty_text_through_the_api(parser, code_tagger):
    df = tag_documents([Document("e", ""), Document("s", "Short text here."), Document("w", " \n")],
                       "char_len,ttr,keyword_ratios")
    assert list(df["id"]) == ["e", "s", "w"]  # empty documents keep their row ...
    for i in (0, 2):  # ... with every value NaN and the reason
        assert df.loc[i, "doc_skip_reason"] == "empty text"
        assert df.drop(columns=["id", "doc_skip_reason"]).iloc[i].isna().all()
    assert df.loc[1, "char_len"] == 16 and pd.isna(df.loc[1, "doc_skip_reason"])
    assert parser.tag([Document("e", "  \n")])[0]["parse_skip_reason"] == "empty text"
    assert code_tagger.tag([Document("e", "")])[0]["code_skip_reason"] == "empty text"
