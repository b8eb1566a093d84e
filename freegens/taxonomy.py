"""The paper's domain taxonomy, the cascade's prompts, and the normalisation of model replies.

The cascade asks one yes/no question per stage and stops at the first "yes":
incoherent? -> code? -> web? -> academic? -> a final choice among books / reference / media /
specific_datasets / web / unknown. ``media`` is offered in the final choice because the paper's label set
has it (its fineweb labels contain it); it folds into ``reference`` in the features.

The stages, their order and the category definitions are the paper's (its ``classify_domains_multistage.py``);
the prompts' wording is ours. Texts under 50 characters are ``incoherent`` without a call (the paper's rule).
``PROMPT_VERSION`` is part of every cache key, so editing a prompt invalidates exactly the cached answers it
affects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT_VERSION = "v2"

#: Every label a document can get (the paper's top-level labels).
LABELS: tuple[str, ...] = ("web", "code", "academic", "books", "reference", "media",
                           "specific_datasets", "incoherent", "unknown")

#: Labels that count as a content domain in the features; ``media`` folds into ``reference``.
FEATURE_DOMAINS: tuple[str, ...] = ("web", "code", "academic", "books", "reference", "specific_datasets")
FOLD_INTO = {"media": "reference"}

#: Texts shorter than this are ``incoherent`` without asking a model (the paper's rule: language "unknown").
MIN_CHARS = 50

SYSTEM_PROMPT = ("You sort documents into domains. The documents were mostly written by language models, so they "
                 "may be odd. Answer with only the requested word, no explanation.")


@dataclass(frozen=True)
class Stage:
    """One cascade step: a yes/no question whose "yes" assigns ``label``, or the final multiple choice."""
    name: str
    question: str
    label: str | None = None        # label on "yes"; None for the final choice
    choices: tuple[str, ...] = ()   # labels offered by the final choice

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)


# The category definitions are the paper's (freegens/classify_domains_multistage.py of
# nightingal3/llm-pretraining-behaviours: same stages, same order, same inclusions and exclusions, e.g.
# textbooks, court documents and chat transcripts under reference, patents and student essays under academic);
# the wording is ours. The first line of each question names its stage.
STAGES: tuple[Stage, ...] = (
    Stage("incoherent",
          "Is the document below incoherent?\n"
          "Say yes ONLY when it is mostly gibberish, repeats itself to an extreme degree, mixes languages or "
          "code in a way that makes no sense (e.g. parts about entirely unrelated subjects), or is several "
          "documents run together. Logical slips and factual errors do not make a document incoherent.",
          label="incoherent"),
    Stage("code",
          "Does the document below contain programming code?\n"
          "Say yes if ANY of these is present: keywords of a programming language (def, class, import, ...); "
          "code blocks (backticks, code-like indentation); a Stack Overflow-style question or answer about "
          "programming; file names with extensions such as .py or .js; documentation of code or of "
          "configuration files.",
          label="code"),
    Stage("web",
          "Is the document below web content?\n"
          "Web content: news articles, social media and forum posts, blog posts, shopping sites and other "
          "general websites; anything that may be a web article at all counts. Say yes if ANY of these is "
          "present: URLs or links; @mentions or #hashtags; 'click here' or other interface text; comment threads "
          "or forum posts; shopping or e-commerce language; bylines or author names; descriptions of products "
          "or their features.",
          label="web"),
    Stage("academic",
          "Is the document below academic or patent content?\n"
          "Academic: research papers and excerpts of research in the sciences or the humanities, patent "
          "applications, and student essays or assignments. Signs: citations or references; LaTeX such as "
          "equations or tables; formal academic language not aimed at teaching a general audience; technical "
          "jargon of a field; patent numbers or patent language (court documents are not patents). Say no if "
          "it only uses a few technical terms, is popular science or a report about a study rather than the "
          "study itself, or teaches a general audience.",
          label="academic"),
    Stage("final",
          "Which category fits the document below best?\n"
          "- books: literary works, fiction, narrative non-fiction (chapter headings or book titles, characters "
          "and dialogue, extended narrative prose, a narrative rather than a teaching tone); not a single "
          "dialogue snippet, not something that could be a web article, not mainly informational\n"
          "- reference: Wikipedia and encyclopedias, dictionaries, textbooks and textbook-like explanations, "
          "definitions of terms, examples meant to teach, instruction or preference data for training "
          "language models, chat transcripts with 'User:'/'Assistant:' turns, court documents and legal text "
          "(not patents), Wikipedia sections such as 'References' or 'External links'\n"
          "- media: podcast or video transcripts, subtitles or captions, audio/video timestamps (counted as "
          "reference)\n"
          "- specific_datasets: specialised data no other category covers, such as biomedical records, "
          "molecules, chess games in PGN or other particular data formats, with unique identifiers or "
          "dataset-specific formatting\n"
          "- web: it is web content after all (social media, news, blogs, forums, shopping)\n"
          "- unknown: none of these",
          choices=("books", "reference", "media", "specific_datasets", "web", "unknown")),
)


def build_messages(stage: Stage, text: str) -> list[dict[str, str]]:
    """The chat messages of one stage for one document (the whole document, as the paper sends it)."""
    if stage.is_choice:
        instruction = f"Reply with exactly one word from: {', '.join(stage.choices)}."
    else:
        instruction = "Reply with exactly one word: yes or no."
    user = f"{stage.question}\n{instruction}\n\n<text>\n{text}\n</text>"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_NON_WORD = re.compile(r"[^a-z0-9_]+")


def normalise_reply(reply: str | None) -> list[str]:
    """Lower-case words of a reply with punctuation/markup removed (``"**Yes.**"`` -> ``["yes"]``).

    Hyphens and spaces inside "specific datasets" variants become the label's underscore.
    """
    if not reply:
        return []
    text = reply.lower().replace("specific-datasets", "specific_datasets").replace("specific datasets",
                                                                                  "specific_datasets")
    text = text.replace("specific dataset", "specific_datasets")
    return [w.strip("_") for w in _NON_WORD.split(text) if w.strip("_")]


def parse_yes_no(reply: str | None) -> bool | None:
    """True/False for the first "yes"/"no" word of the reply; None when it has neither."""
    for word in normalise_reply(reply):
        if word in ("yes", "y", "true"):
            return True
        if word in ("no", "n", "false"):
            return False
    return None


def parse_choice(reply: str | None, choices: tuple[str, ...]) -> str | None:
    """The first of ``choices`` named in the reply (extra words ignored); None when none is named."""
    aliases = {c: c for c in choices}
    aliases.update({"book": "books", "fiction": "books", "encyclopedia": "reference",
                    "dataset": "specific_datasets", "datasets": "specific_datasets", "specific": "specific_datasets"})
    for word in normalise_reply(reply):
        label = aliases.get(word)
        if label in choices:
            return label
    return None


def feature_domain(label: str) -> str | None:
    """The feature domain a label counts toward (media -> reference), or None (incoherent, unknown)."""
    label = FOLD_INTO.get(label, label)
    return label if label in FEATURE_DOMAINS else None
