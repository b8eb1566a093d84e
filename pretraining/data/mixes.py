"""Data mixes: which Megatron datasets a model trains on, with which sampling weights.

Two file formats, both validated on load:

* the paper's / Megatron's ``--data-path`` format: ``weight prefix weight prefix ...`` (whitespace or
  newlines between items, ``#`` comments), e.g. ``80 ${DATA_ROOT}/nl_text_document 20 ${DATA_ROOT}/code_text_document``;
* YAML with named domains::

      name: nl80_code20
      domains:
        - {name: nl, weight: 80, path: ${DATA_ROOT}/nl_text_document, category: web}
        - {name: code, weight: 20, path: ${DATA_ROOT}/code_text_document, category: code}

  ``category`` is one of web/code/books/reference/academic, or a mapping of them to fractions
  (``{books: 0.5, reference: 0.5}``) for a domain that is itself a mixture.

Paths may use ``${VAR}``/``$VAR`` (an unset variable is an error naming it), ``~``, and are relative to the
mix file's folder. A prefix must have its ``.bin`` and ``.idx``. Weights must be positive numbers (``1/4``
is an error, not a silent 0) and are normalised to sum to 1.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping

from njsl.units import NUMBER

CATEGORIES = ("web", "code", "books", "reference", "academic")

# Used only when a paper-format mix gives no categories: guessed from the prefix's name, and reported as guessed.
_CATEGORY_HINTS = [
    ("code", ("code", "github", "stack", "starcoder", "program", "python")),
    ("books", ("book", "gutenberg", "pg19", "pg-19")),
    ("reference", ("wiki", "reference", "encyclop")),
    ("academic", ("arxiv", "pes2o", "pubmed", "academic", "paper", "s2orc", "science")),
]

_VAR = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


class MixError(ValueError):
    """A mix file is invalid: the message names the file, the domain/field and the fix."""


@dataclass
class Domain:
    name: str
    weight: float  # normalised: the weights of a mix sum to 1
    path_prefix: str  # Megatron prefix (without .bin/.idx), absolute
    category: str | dict[str, float]
    raw_weight: float = 0.0
    category_guessed: bool = False

    def category_fractions(self) -> dict[str, float]:
        return {self.category: 1.0} if isinstance(self.category, str) else dict(self.category)


@dataclass
class DataMix:
    domains: list[Domain]
    name: str = "mix"
    source: str | None = None
    _manifests: dict = field(default_factory=dict, repr=False)

    def megatron_blend(self) -> list:
        """``[w1, prefix1, w2, prefix2, ...]`` as Megatron's ``--data-path`` / ``get_blend_from_list`` expect."""
        out: list = []
        for d in self.domains:
            out += [d.weight, d.path_prefix]
        return out

    def blend(self) -> tuple[list[str], list[float]]:
        """``([prefix...], [weight...])``: the ``blend`` field of megatron-core's ``BlendedMegatronDatasetConfig``."""
        return [d.path_prefix for d in self.domains], [d.weight for d in self.domains]

    def composition(self) -> dict[str, float]:
        """% of training tokens per category (web/code/books/reference/academic) for the store's ``dataset_info``.

        Sampling weights are token shares of what the model sees, so this follows the weights, not the sizes.
        """
        pct = {c: 0.0 for c in CATEGORIES}
        for d in self.domains:
            for cat, frac in d.category_fractions().items():
                pct[cat] += 100.0 * d.weight * frac
        return {c: round(v, 6) for c, v in pct.items()}

    def dataset_info_row(self, dataset_id: str, total_tokens: float) -> dict:
        """A row for ``AnalysisStore.upsert_dataset_info``: tokens in billions and the % composition."""
        row = {"id": dataset_id, "pretraining_summary_total_tokens_billions": total_tokens / 1e9}
        row.update({f"pretraining_summary_percentage_{c}": v for c, v in self.composition().items()})
        row["metadata"] = json.dumps({"mix": self.name, "source": self.source,
                                      "domains": [{"name": d.name, "weight": d.weight, "path": d.path_prefix}
                                                  for d in self.domains]})
        return row

    def domain_tokens(self, d: Domain) -> int:
        """Tokens available in a domain: from its manifest, else summed from its ``.idx``."""
        if d.path_prefix not in self._manifests:
            self._manifests[d.path_prefix] = count_tokens(d.path_prefix)
        return self._manifests[d.path_prefix]

    def report(self, token_budget: float | None = None) -> list[dict]:
        """Per domain: weight, category, tokens available, tokens drawn for ``token_budget``, epochs (repeats)."""
        rows = []
        for d in self.domains:
            available = self.domain_tokens(d)
            row = {"domain": d.name, "category": d.category if isinstance(d.category, str) else
                   ",".join(f"{k}:{v:g}" for k, v in d.category.items()),
                   "category_guessed": d.category_guessed, "weight": d.weight, "tokens_available": available,
                   "path": d.path_prefix}
            if token_budget is not None:
                drawn = d.weight * token_budget
                row["tokens_drawn"] = drawn
                row["epochs"] = drawn / available if available else math.inf
            rows.append(row)
        return rows


def count_tokens(prefix: str | os.PathLike) -> int:
    """Tokens in a Megatron prefix: the manifest's count if present, else the sum of the ``.idx`` lengths."""
    manifest = Path(f"{prefix}.manifest.json")
    if manifest.exists():
        try:
            return int(json.loads(manifest.read_text(encoding="utf-8"))["tokens"])
        except (ValueError, KeyError, TypeError):
            pass  # a broken manifest should not hide the data: fall back to the index
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import _IndexReader

    reader = _IndexReader(f"{prefix}.idx", multimodal=False)
    return int(reader.sequence_lengths.sum(dtype="int64"))


# ------------------------------------------------------------------------------------------------ parsing
def expand_vars(text: str, where: str, env: Mapping[str, str] | None = None) -> str:
    """Expand ``$VAR``/``${VAR}``; an unset variable is a :class:`MixError` naming it and ``where``."""
    env = os.environ if env is None else env

    def sub(m: re.Match) -> str:
        var = m.group(1) or m.group(2)
        if var not in env:
            raise MixError(f"{where}: environment variable ${{{var}}} is not set; export {var}=/path/to/your/data")
        return env[var]

    return os.path.expanduser(_VAR.sub(sub, text))


def _parse_weight(value, where: str) -> float:
    if isinstance(value, bool):
        raise MixError(f"{where}: weight must be a positive number, got {value!r}")
    if isinstance(value, (int, float)) or isinstance(value, str) and NUMBER.match(value.strip()):
        weight = float(value)
    else:
        raise MixError(f"{where}: weight must be a positive number like 0.25 or 25, got {value!r}"
                       + (" (fractions such as 1/4 are not accepted; write 0.25)" if "/" in str(value) else ""))
    if not math.isfinite(weight) or weight <= 0:
        raise MixError(f"{where}: weight must be a positive number, got {value!r}")
    return weight


def _parse_category(value, where: str) -> str | dict[str, float]:
    if isinstance(value, str):
        if value not in CATEGORIES:
            raise MixError(f"{where}: category must be one of {', '.join(CATEGORIES)} (or a mapping of them to "
                           f"fractions), got {value!r}")
        return value
    if isinstance(value, Mapping) and value:
        out = {}
        for k, v in value.items():
            if k not in CATEGORIES:
                raise MixError(f"{where}: unknown category {k!r}; use {', '.join(CATEGORIES)}")
            out[k] = _parse_weight(v, f"{where}.{k}")
        total = sum(out.values())
        if not math.isclose(total, 1.0, rel_tol=1e-6) and not math.isclose(total, 100.0, rel_tol=1e-6):
            raise MixError(f"{where}: category fractions must sum to 1 (or 100), got {total:g}")
        return {k: v / total for k, v in out.items()}
    raise MixError(f"{where}: category must be one of {', '.join(CATEGORIES)} or a mapping of them to fractions, "
                   f"got {value!r}")


def _guess_category(prefix: str) -> str:
    name = Path(prefix).name.lower()
    for cat, hints in _CATEGORY_HINTS:
        if any(h in name for h in hints):
            return cat
    return "web"


def _resolve_prefix(raw: str, base: Path, where: str, env, check_paths: bool) -> str:
    path = expand_vars(str(raw), where, env)
    for suffix in (".bin", ".idx"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    p = Path(path)
    if not p.is_absolute():
        p = base / p
    p = Path(os.path.normpath(p))
    if check_paths:
        missing = [s for s in (".bin", ".idx") if not Path(f"{p}{s}").is_file()]
        if missing:
            raise MixError(f"{where}: dataset {p} has no {' / '.join(missing)} file; run 'njsl preprocess' to create "
                           "it or fix the path")
    return str(p)


def _finish(domains: list[Domain], name: str, source: str | None) -> DataMix:
    if not domains:
        raise MixError(f"{source or 'mix'}: no domains")
    names = [d.name for d in domains]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MixError(f"{source or 'mix'}: duplicate domain name(s) {dup}")
    total = sum(d.raw_weight for d in domains)
    for d in domains:
        d.weight = d.raw_weight / total
    return DataMix(domains, name=name, source=source)


def parse_paper_mix(text: str, *, base: Path = Path("."), source: str | None = None, env=None,
                    check_paths: bool = True, categories: Mapping[str, str] | None = None) -> DataMix:
    """Parse ``weight prefix weight prefix ...``; categories come from ``categories`` (by prefix name), or are
    guessed."""
    where = source or "mix"
    items = [tok for line in text.splitlines() for tok in line.split("#", 1)[0].split()]
    if not items:
        raise MixError(f"{where}: empty mix; write 'weight path weight path ...'")
    if len(items) % 2:
        raise MixError(f"{where}: expected pairs 'weight path', got an odd number of items ({len(items)}): {items}")
    pairs = [(items[k], items[k + 1], f"{where}: item {k // 2 + 1} ({items[k]} {items[k + 1]})")
             for k in range(0, len(items), 2)]
    weights = [_parse_weight(w_raw, here) for w_raw, _, here in pairs]  # all syntax errors before any path check
    domains: list[Domain] = []
    for weight, (_, p_raw, here) in zip(weights, pairs, strict=False):
        prefix = _resolve_prefix(p_raw, base, here, env, check_paths)
        name = Path(prefix).name
        if categories and name in categories:
            cat, guessed = _parse_category(categories[name], here), False
        else:
            cat, guessed = _guess_category(prefix), True
        taken = {d.name for d in domains}
        if name in taken:  # same file name in two folders: keep names unique for reports
            name = f"{Path(prefix).parent.name}/{name}"
            k = 2
            while name in taken:
                name, k = f"{Path(prefix).parent.name}/{Path(prefix).name}#{k}", k + 1
        domains.append(Domain(name, 0.0, prefix, cat, weight, guessed))
    return _finish(domains, Path(source).stem if source else "mix", source)


def parse_yaml_mix(data, *, base: Path = Path("."), source: str | None = None, env=None,
                   check_paths: bool = True) -> DataMix:
    """Validate a YAML mix already loaded as a dict (see module docstring)."""
    where = source or "mix"
    if not isinstance(data, Mapping):
        raise MixError(f"{where}: a YAML mix must be a mapping with a 'domains' list")
    unknown = sorted(set(data) - {"name", "domains", "description"})
    if unknown:
        raise MixError(f"{where}: unknown top-level field(s) {unknown}; allowed: name, description, domains")
    raw = data.get("domains")
    if not isinstance(raw, list) or not raw:
        raise MixError(f"{where}: 'domains' must be a non-empty list of {{name, weight, path, category}}")
    domains = []
    for i, item in enumerate(raw):
        here = f"{where}: domains[{i}]"
        if not isinstance(item, Mapping):
            raise MixError(f"{here}: must be a mapping with name, weight, path, category")
        if "name" in item:
            here = f"{where}: domain {item['name']!r}"
        missing = [k for k in ("name", "weight", "path", "category") if k not in item]
        if missing:
            raise MixError(f"{here}: missing field(s) {missing}")
        extra = sorted(set(item) - {"name", "weight", "path", "category", "description"})
        if extra:
            raise MixError(f"{here}: unknown field(s) {extra}")
        weight = _parse_weight(item["weight"], f"{here}.weight")
        prefix = _resolve_prefix(item["path"], base, f"{here}.path", env, check_paths)
        domains.append(Domain(str(item["name"]), 0.0, prefix, _parse_category(item["category"], f"{here}.category"),
                              weight))
    return _finish(domains, str(data.get("name") or (Path(source).stem if source else "mix")), source)


def load_mix(path: str | os.PathLike, *, env: Mapping[str, str] | None = None, check_paths: bool = True,
             categories: Mapping[str, str] | None = None) -> DataMix:
    """Load and validate a mix file (``.yaml``/``.yml`` → YAML, anything else → paper format).

    ``check_paths=False`` skips the ``.bin``/``.idx`` existence check (for templates/dry runs).
    ``categories`` (prefix name → category) applies to paper-format files, which cannot name categories.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mix file not found: {path}")
    text = path.read_text(encoding="utf-8")
    base = path.resolve().parent
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MixError(f"{path}: not valid YAML ({exc})") from exc
        return parse_yaml_mix(data, base=base, source=str(path), env=env, check_paths=check_paths)
    return parse_paper_mix(text, base=base, source=str(path), env=env, check_paths=check_paths,
                           categories=categories)


def shipped_mixes() -> dict[str, Path]:
    """The mix templates shipped in ``pretraining/configs/mixes`` (name → file); they use ``${DATA_ROOT}``."""
    folder = Path(__file__).resolve().parents[1] / "configs" / "mixes"
    return {p.stem if p.suffix != ".txt" else p.name: p for p in sorted(folder.glob("*")) if p.is_file()}
