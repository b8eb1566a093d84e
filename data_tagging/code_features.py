"""``code_features``: syntax-tree statistics of source code with tree-sitter.

Per document:

- ``code_ast_depth_max`` / ``code_ast_depth_mean``: depth of named syntax nodes (the root has depth 0).
- ``code_node_count``: named syntax nodes.
- ``code_def_use_dist_{mean,median,max}``: for each use of an identifier, the distance in bytes from the end
  of the nearest preceding definition of that name to the start of the use (the paper's unit: its
  ``ast_features.py`` measures ``use.start_byte - definition.end_byte``). Definitions are function/class/
  variable names, assignment targets, parameters, loop variables, imports, found from the grammar's field names
  (``name``, ``left``, ``declarator``, ``pattern``...) and node types (``*parameter*``), so one rule serves every
  language (the paper used per-language tree-sitter queries). Uses with no preceding definition (built-ins,
  names from elsewhere) are not counted (the paper's code measured those to the first later definition,
  giving a negative distance).
- ``code_def_use_lines_{mean,median,max}`` (ours): the same distance in lines.
- ``code_error_ratio``: share of named nodes that are ERROR/MISSING (how well the grammar fits).
- ``code_language`` and ``code_skip_reason`` (text).

Only code is measured. A document whose record names its language (``language``/``lang`` field, or the file
extension of its ``path``/``filename``) is code in that language. Any other document must first look like
code: at least ``min_code_line_share`` (30%) of its non-blank lines outside triple-quoted blocks match
:data:`CODE_LINE` (a statement keyword followed by code punctuation, an assignment, a closing bracket, a
comment opener, a line ending in ``;`` or ``{``, a call); prose gets NaN with ``code_skip_reason = "not code:
..."``. With the grammar check below, measured by ``benchmarks/bench_code_detector.py`` on 992 English web
documents not labelled code, German and Chinese text, 94 standard-library Python and 119 C/C++/JavaScript files:
2 of 994 prose documents are measured (0.2%), 205 of 213 code files are (recall 96%, precision 99%). Then the
language is ``--code_language`` when given, else the grammar with the fewest parse errors; a document no grammar
parses cleanly (error ratio above ``max_error_ratio``) is skipped as "not code" too.

Grammars: the per-language PyPI wheels (``tree-sitter-python``, ``-javascript``, ``-java``, ``-c``, ``-cpp``,
``-go``, ``-rust``), else ``tree_sitter_language_pack`` (whose 1.x releases download grammars on first use,
which needs network access). Documents are cut at ``max_code_bytes`` (noted) so one huge file stays bounded.
"""
from __future__ import annotations

import bisect
import importlib
import math
import re
from pathlib import PurePath
from typing import Any
from collections.abc import Sequence

from njsl.documents import Document

from data_tagging.registry import Tagger, TaggingError, describe_stats, nan_row, register

# Detection order also breaks ties (C before C++: C code parses cleanly as both).
DETECT_LANGUAGES = ("python", "go", "rust", "java", "javascript", "c", "cpp")
EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".go": "go", ".rs": "rust",
}
LANGUAGE_NAMES = {"c++": "cpp", "js": "javascript", "py": "python", "golang": "go", "rs": "rust"}
IDENTIFIER_TYPES = frozenset({"identifier", "type_identifier"})
_DEF_FIELDS = frozenset({"name", "left", "declarator", "pattern", "alias", "target"})
_DEF_PARENT = re.compile(r"definition|declaration|declarator|assignment|class|function|method|struct|enum|"
                         r"interface|trait|item|spec|for|let|import|with|parameter|variable|const|binding")
_USE_PARENT = re.compile(r"call|invocation|access|binary|comparison|selector|member|attribute|subscript")
_PARAM_PARENT = re.compile(r"parameter|parameters|parameter_list")
_LIST_PARENT = frozenset({"expression_list", "pattern_list", "tuple_pattern", "dotted_name", "identifier_list"})


_CODE_KEYWORDS = (r"(def|class|import|from|return|if|elif|else|for|while|try|except|finally|with|raise|yield|async|"
                  r"await|#include|#define|#ifn?def|#if|#endif|#pragma|public|private|protected|static|void|int|"
                  r"char|float|double|bool|auto|const|let|var|function|fn|func|package|use|impl|struct|enum|switch|"
                  r"case|break|continue|namespace|template|typedef|unsigned|long|export|module|require)")
#: A line that looks like code in most C-family languages, Python, Go, Rust or JavaScript.
CODE_LINE = re.compile(
    r"^\s*(?:" + _CODE_KEYWORDS + r"\b.*[:;{(),=\[\]]"       # a statement keyword, then code punctuation
    r"|[\w.\[\]\"'>*-]+\s*(?:=|\+=|-=|\*=|/=|:=|==|=>|->)\s*\S.*"  # an assignment or arrow
    r"|[}\])]+[;,)]*"                                          # closing brackets
    r"|//.*|/\*.*|\*.*|@\w+.*|#\s*\w.*"                         # comments, decorators, preprocessor
    r"|.*[;{]\s*(?://.*)?"                                      # ends like a C-family statement or block
    r"|\w[\w.]*\(.*\)[;:]?)\s*$")                              # a call
_TRIPLE_QUOTE = re.compile(r"\"\"\"|'''")


def code_line_share(text: str) -> float:
    """Share of non-blank lines matching :data:`CODE_LINE`; lines in triple-quoted blocks (docstrings) count
    neither way, so a well-documented Python module is not mistaken for prose."""
    total = code = 0
    inside = False
    for line in text.splitlines():
        if not line.strip():
            continue
        quotes = len(_TRIPLE_QUOTE.findall(line))
        if inside or quotes:
            if quotes % 2:
                inside = not inside
            continue
        total += 1
        code += bool(CODE_LINE.match(line))
    return code / total if total else 0.0


def get_language(name: str):
    """A ``tree_sitter.Language`` for ``name`` from its PyPI grammar wheel, else from the language pack."""
    import tree_sitter

    try:
        module = importlib.import_module(f"tree_sitter_{name}")
        return tree_sitter.Language(module.language())
    except (ImportError, AttributeError):
        pass
    try:
        import tree_sitter_language_pack as pack

        return pack.get_language(name)
    except Exception as exc:  # the pack raises its own error types (download/lookup failures)
        raise TaggingError(
            f"--code_language: no tree-sitter grammar for {name!r} (pip install tree-sitter-{name}, "
            f"or a tree-sitter-language-pack with it cached): {str(exc)[:160]}"
        ) from exc


def language_from_meta(meta: dict) -> str | None:
    """The language named by a document's metadata (a language field or a file extension), if supported."""
    for key in ("language", "lang", "programming_language"):
        value = meta.get(key)
        if isinstance(value, str):
            value = LANGUAGE_NAMES.get(value.lower(), value.lower())
            if value in DETECT_LANGUAGES:
                return value
    for key in ("path", "filename", "file", "max_stars_repo_path", "file_path"):
        value = meta.get(key)
        if isinstance(value, str):
            lang = EXTENSIONS.get(PurePath(value).suffix.lower())
            if lang:
                return lang
    return None


def _is_definition(field: str | None, parent_type: str, grand_type: str, grand_field: str | None) -> bool:
    if _PARAM_PARENT.search(parent_type):
        return True
    if field in _DEF_FIELDS and _DEF_PARENT.search(parent_type) and not _USE_PARENT.search(parent_type):
        return True
    # ``a, b = ...`` / ``x, y := ...`` / ``import a.b``: the identifier sits in a list under the defining node.
    return bool(parent_type in _LIST_PARENT and grand_field in _DEF_FIELDS and _DEF_PARENT.search(grand_type))


def tree_stats(tree, source: bytes) -> dict[str, Any]:
    """Depths, node/error counts and definition-use line distances of one syntax tree (iterative walk)."""
    depths: list[int] = []
    errors = 0
    defs: dict[bytes, list[tuple[int, int]]] = {}  # name -> [(line, end byte)]
    uses: list[tuple[bytes, int, int]] = []  # (name, line, start byte)
    cursor = tree.walk()
    # stack of (node type, field name) for the ancestors of the cursor's node
    stack: list[tuple[str, str | None]] = []
    while True:
        node = cursor.node
        field = cursor.field_name  # this node's field within its parent
        if node.is_named:
            depths.append(len(stack))
            if node.is_error or node.is_missing:
                errors += 1
            if node.type in IDENTIFIER_TYPES and stack:
                name = source[node.start_byte:node.end_byte]
                line = node.start_point[0]
                parent_type = stack[-1][0]
                grand_type, grand_field = stack[-2] if len(stack) > 1 else ("", None)
                if _is_definition(field, parent_type, grand_type, stack[-1][1]):
                    defs.setdefault(name, []).append((line, node.end_byte))
                else:
                    uses.append((name, line, node.start_byte))
        if cursor.goto_first_child():
            stack.append((node.type, field))
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return _finish(depths, errors, defs, uses)
            stack.pop()


def _finish(depths, errors, defs, uses) -> dict[str, Any]:
    by_line = {name: sorted(line for line, _ in d) for name, d in defs.items()}
    by_end = {name: sorted(end for _, end in d) for name, d in defs.items()}
    lines_back, bytes_back = [], []
    for name, line, start in uses:
        if name not in by_line:
            continue
        k = bisect.bisect_right(by_line[name], line)
        if k:
            lines_back.append(line - by_line[name][k - 1])
        ends = by_end[name]
        k = bisect.bisect_left(ends, start)  # definitions that end before the use starts (the paper's search)
        if k:
            bytes_back.append(start - ends[k - 1])
    return {"depths": depths, "errors": errors, "dists": bytes_back, "lines": lines_back}


@register
class CodeFeatures(Tagger):
    name = "code_features"
    aliases = ("code",)
    columns = ("code_ast_depth_max", "code_ast_depth_mean", "code_node_count", "code_def_use_dist_mean",
               "code_def_use_dist_median", "code_def_use_dist_max", "code_def_use_lines_mean",
               "code_def_use_lines_median", "code_def_use_lines_max", "code_error_ratio")
    text_columns = ("code_language", "code_skip_reason", "code_note")
    uses_meta = True
    description = "tree-sitter AST depth, node count, definition-to-use distance (Python, JS, Java, C, C++, Go, Rust)"

    def __init__(self, code_language: str | None = None, max_error_ratio: float = 0.05,
                 max_code_bytes: int = 1_000_000, min_code_line_share: float = 0.3) -> None:
        import tree_sitter

        self.fixed = LANGUAGE_NAMES.get(code_language.lower(), code_language.lower()) if code_language else None
        names = [self.fixed] if self.fixed else list(DETECT_LANGUAGES)
        self.parsers = {n: tree_sitter.Parser(get_language(n)) for n in names}
        self.max_error_ratio = float(max_error_ratio)
        self.max_code_bytes = int(max_code_bytes)
        self.min_code_line_share = float(min_code_line_share)

    def _parse(self, lang: str, source: bytes):
        return self.parsers[lang].parse(source)

    def _detect(self, source: bytes) -> tuple[str | None, Any, dict | None]:
        best: tuple[float, str | None, Any, dict | None] = (math.inf, None, None, None)
        for lang in DETECT_LANGUAGES:
            tree = self._parse(lang, source)
            if not tree.root_node.has_error:
                return lang, tree, None
            stats = tree_stats(tree, source)
            ratio = stats["errors"] / max(len(stats["depths"]), 1)
            if ratio < best[0]:
                best = (ratio, lang, tree, stats)
        ratio, best_lang, best_tree, best_stats = best
        if ratio > self.max_error_ratio:
            return None, None, None
        return best_lang, best_tree, best_stats

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        rows = []
        for d in docs:
            if not d.text.strip():
                rows.append(nan_row(self, code_skip_reason="empty text"))
                continue
            source = d.text.encode("utf-8")
            note = None
            if len(source) > self.max_code_bytes:
                note = f"parsed the first {self.max_code_bytes} of {len(source)} bytes"
                source = source[: self.max_code_bytes]
            named = language_from_meta(d.meta)
            if named is None:  # nothing says this is a code file: it has to look like code
                share = code_line_share(d.text)
                if share < self.min_code_line_share:
                    rows.append(nan_row(self, code_skip_reason=f"not code: {share:.0%} of lines look like code "
                                                              f"(< {self.min_code_line_share:.0%})"))
                    continue
            lang = self.fixed or named
            stats = None
            if lang is None:
                lang, tree, stats = self._detect(source)
                if lang is None:
                    rows.append(nan_row(self, code_skip_reason="not code: no grammar parses it cleanly",
                                        code_note=note))
                    continue
            else:  # a fixed language has its parser; a named one is one of DETECT_LANGUAGES, all built
                tree = self._parse(lang, source)
            stats = stats or tree_stats(tree, source)
            row: dict[str, Any] = {}
            row.update(describe_stats(stats["depths"], "code_ast_depth", ("max", "mean")))
            row["code_node_count"] = float(len(stats["depths"]))
            row.update(describe_stats(stats["dists"], "code_def_use_dist", ("mean", "median", "max")))
            row.update(describe_stats(stats["lines"], "code_def_use_lines", ("mean", "median", "max")))
            row["code_error_ratio"] = stats["errors"] / max(len(stats["depths"]), 1)
            row.update(code_language=lang, code_skip_reason=None, code_note=note)
            rows.append(row)
        return rows
