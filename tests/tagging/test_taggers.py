"""Unit tests of each tagger on stdlib text and code."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from njsl.documents import Document

from data_tagging import TaggingError, resolve_features, tag_documents
from data_tagging.basic import load_tokenizer
from data_tagging.code_features import CodeFeatures, language_from_meta
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


def test_keyword_counts_qa_markers_only_at_line_start():
    text = ("Question: What is 2 + 2?\nAnswer: 4\n  Q: why?\nA: because\n"
            "This FAQ: is not one. Nor is Q:inline or a: b or Answers: x.\n"
            "Write the answer and explain how. 1,000 and 3.14 are numbers; v2 is not.")
    c = count_keywords(text)
    assert c["qa_markers"] == 4
    assert c["question_words"] == 3  # What, why, how
    assert c["imperative_verbs"] == 1  # "Write" opens a line; "explain" does not open a sentence
    assert c["numbers"] == 5  # 2, 2, 4, 1,000, 3.14 (not the 2 of v2)
    assert c["conjunctions"] == 6  # because, Nor, or, or, and, and
    df = tag_documents([Document("d", text)], "keyword_ratios")
    assert df.loc[0, "qa_markers_ratio"] == pytest.approx(1e5 * 4 / len(text))


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
        assert row["const_parse_words_per_sent_mean"] == pytest.approx(
            row["const_parse_num_words"] / row["const_parse_num_sentences"])


def test_parse_values_match_spacy_tokens(parser):
    """Hand-check the array arithmetic against spaCy's own Token objects on one sentence."""
    text = "The old man quickly wrote a long letter to his daughter."
    row = parser.tag([Document("s", text)])[0]
    doc = parser.nlp(text)
    words = [t for t in doc if not t.is_punct]
    head = [abs(t.i - t.head.i) for t in words if t.head.i != t.i]
    root = [abs(t.i - t.sent.root.i) for t in words]

    def depth(t):
        d = 0
        while t.head.i != t.i:
            t, d = t.head, d + 1
        return d

    assert row["dep_parse_dep_head_dist_median"] == np.median(head)
    assert row["dep_parse_dep_head_dist_max"] == max(head)
    assert row["dep_parse_dep_root_dist_mean"] == pytest.approx(np.mean(root))
    assert row["dep_parse_dep_tree_depth_max"] == max(depth(t) for t in words)
    assert row["const_parse_num_sentences"] == 1 and row["const_parse_num_words"] == len(words)


def test_pos_lookup_agrees_with_full_pipeline(parser, docstrings):
    """Content words come from the attribute_ruler's own tag rules instead of running it: check agreement."""
    from data_tagging.language import import_spacy

    full = import_spacy().load(parser.nlp.meta["lang"] + "_" + parser.nlp.meta["name"],
                               exclude=["ner", "lemmatizer"])
    text = " ".join(docstrings[:5])
    ours = parser.tag([Document("x", text)])[0]["content_function_ratio"]
    doc = full(text)
    words = [t for t in doc if not t.is_punct and not t.is_space]
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
    assert row["code_def_use_dist_max"] == 4
    assert row["code_def_use_dist_mean"] == pytest.approx(2.5)


def test_code_on_stdlib_files_and_prose(code_tagger, stdlib_dir: Path, docstrings):
    src = (stdlib_dir / "textwrap.py").read_text()
    row = code_tagger.tag([Document("tw", src)])[0]
    assert row["code_language"] == "python" and row["code_node_count"] > 1000
    prose = code_tagger.tag([Document("p", docstrings[3])])[0]
    assert prose["code_skip_reason"].startswith("not code")
    assert language_from_meta({"path": "src/lib.rs"}) == "rust"
    assert language_from_meta({"language": "C++"}) == "cpp"


def test_code_fixed_language_and_bad_language():
    tagger = CodeFeatures(code_language="go")
    assert tagger.tag([Document("g", CODE["go"])])[0]["code_language"] == "go"
    with pytest.raises(TaggingError, match="no tree-sitter grammar for 'nosuchlang'"):
        CodeFeatures(code_language="nosuchlang")


def test_empty_text_through_the_api(parser, code_tagger):
    df = tag_documents([Document("e", ""), Document("s", "Short text here.")], "char_len,ttr,keyword_ratios")
    assert df.loc[0, "char_len"] == 0 and math.isnan(df.loc[0, "ttr"]) and math.isnan(df.loc[0, "numbers_ratio"])
    assert parser.tag([Document("e", "  \n")])[0]["parse_skip_reason"] == "empty text"
    assert code_tagger.tag([Document("e", "")])[0]["code_skip_reason"] == "empty text"
