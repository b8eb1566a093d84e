"""Fixed k-mer vocabularies for nucleotide sequences (``nuc``, ``3mer``, ``6mer``; DNA or RNA alphabet).

The tokenizer is a plain Hugging Face ``tokenizers`` pipeline (WordLevel model + regex pre-tokenizer), so the
same object is used by training (``njsl preprocess``/the trainer), by evaluation (``AutoTokenizer`` in the
exported model folder, lm-eval) and it saves/loads with ``save_pretrained``/``from_pretrained`` — no custom
Python code is needed to read it back.

Splitting rule (shared by training and evaluation because it lives in ``tokenizer.json``):

* input is upper-cased and whitespace separates sequences;
* each sequence is cut into non-overlapping k-mers from the left, and **the last complete k-mer is kept**
  (``ACGTAC`` → ``ACG TAC``; the classic off-by-one ``range(0, len(s) - k, k)`` would drop ``TAC``);
* a tail shorter than k is kept as single-nucleotide tokens (``ACGTA`` → ``ACG T A``), so nothing is lost;
* any other character (``N``, ``-``...) is its own token and maps to the unknown token; the k-mer frame
  restarts after it.

Names: ``nuc`` (k=1), ``3mer``, ``6mer`` over ``ACGT``; append ``-rna`` for ``ACGU`` (``3mer-rna``).
Other k are accepted as ``<k>mer`` (1 <= k <= 8).
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from njsl.atomic import atomic_path
from tokenization.special_tokens import BOS, EOS, MASK, PAD, UNK

# Same special tokens (and ids 0..3) as the BPE/unigram tokenizers of tokenization.tokenizer, plus a mask token.
KMER_SPECIAL_TOKENS = [EOS, BOS, PAD, UNK, MASK]
ALPHABETS = {"dna": "ACGT", "rna": "ACGU"}
_NAME = re.compile(r"^(?:(nuc)|(\d+)mer)(?:-(dna|rna))?$")
MAX_K = 8  # 4**8 = 65536 k-mers; larger vocabularies are mostly unseen tokens


class KmerSpecError(ValueError):
    """A k-mer tokenizer name is malformed (the message lists the accepted names)."""


@dataclass(frozen=True)
class KmerSpec:
    """A fixed k-mer vocabulary: k-mer length and nucleotide alphabet."""

    k: int
    alphabet: str = "dna"

    @property
    def letters(self) -> str:
        return ALPHABETS[self.alphabet]

    @property
    def name(self) -> str:
        base = "nuc" if self.k == 1 else f"{self.k}mer"
        return base if self.alphabet == "dna" else f"{base}-{self.alphabet}"

    def vocabulary(self) -> list[str]:
        """Tokens in id order: special tokens, single nucleotides, then all k-mers in lexicographic order."""
        singles = list(self.letters)
        kmers = ["".join(p) for p in itertools.product(self.letters, repeat=self.k)] if self.k > 1 else []
        return KMER_SPECIAL_TOKENS + singles + kmers


def is_kmer_name(name: str | os.PathLike) -> bool:
    """True when ``name`` names a built-in k-mer vocabulary (and is not an existing path)."""
    return isinstance(name, str) and bool(_NAME.match(name)) and not Path(name).exists()


def parse_kmer_name(name: str) -> KmerSpec:
    """``"3mer"`` → ``KmerSpec(3, "dna")``; raise :class:`KmerSpecError` naming the accepted forms."""
    m = _NAME.match(name or "")
    if not m:
        raise KmerSpecError(f"tokenizer {name!r} is not a k-mer vocabulary; use nuc, 3mer, 6mer (or <k>mer, "
                            f"1 <= k <= {MAX_K}), optionally with -rna for the ACGU alphabet, e.g. 3mer-rna")
    k = 1 if m.group(1) else int(m.group(2))
    if not 1 <= k <= MAX_K:
        raise KmerSpecError(f"tokenizer {name!r}: k must be between 1 and {MAX_K}, got {k}")
    return KmerSpec(k, m.group(3) or "dna")


def split_kmers(sequence: str, k: int, letters: str = "ACGT") -> list[str]:
    """Reference (pure Python) splitter with exactly the rule the tokenizer applies; used by the tests."""
    out: list[str] = []
    for chunk in sequence.upper().split():
        i = 0
        while i < len(chunk):
            if chunk[i] not in letters:
                out.append(chunk[i])
                i += 1
                continue
            j = i
            while j < len(chunk) and chunk[j] in letters:
                j += 1
            run = chunk[i:j]
            full = len(run) - len(run) % k
            out += [run[p:p + k] for p in range(0, full, k)]  # stops at `full`, so the last k-mer is included
            out += list(run[full:])
            i = j
    return out


def build_kmer_tokenizer(spec: KmerSpec | str):
    """A ``transformers`` fast tokenizer for ``spec`` (a :class:`KmerSpec` or a name such as ``"6mer"``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if isinstance(spec, str):
        spec = parse_kmer_name(spec)
    vocab = {tok: i for i, tok in enumerate(spec.vocabulary())}
    letters = spec.letters
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    # Upper-case only the nucleotide letters (tokenizers has no generic upper-case normalizer).
    tok.normalizer = normalizers.Sequence([normalizers.Replace(c.lower(), c) for c in "ACGTUN"])
    # Regex alternation is tried left to right at each position: a full k-mer if k letters follow, else a
    # single letter (the tail), else any other single character (→ unknown token).
    pattern = f"[{letters}]{{{spec.k}}}|[{letters}]|[^{letters}\\s]" if spec.k > 1 else f"[{letters}]|[^{letters}\\s]"
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
    ])
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=BOS, pad_token=PAD,
                                   unk_token=UNK, mask_token=MASK, model_max_length=1_000_000)
    fast.init_kwargs["kmer_spec"] = spec.name  # recorded in tokenizer_config.json for provenance
    return fast


def save_kmer_tokenizer(spec: KmerSpec | str, output: str | os.PathLike) -> Path:
    """Write the tokenizer for ``spec`` as a Hugging Face folder (atomically); return its path."""
    tok = build_kmer_tokenizer(spec)
    output = Path(output)
    with atomic_path(output) as tmp:
        tok.save_pretrained(str(tmp))
    return output


def load_any_tokenizer(name_or_path: str | os.PathLike):
    """A k-mer name → the built-in tokenizer; anything else → ``AutoTokenizer.from_pretrained`` (local only)."""
    if is_kmer_name(str(name_or_path)):
        return build_kmer_tokenizer(str(name_or_path))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
