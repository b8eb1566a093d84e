"""The paper's domain taxonomy, the cascade's prompts, and the normalisation of model replies.

The cascade asks one yes/no question per stage and stops at the first "yes":
incoherent? -> code? -> web? -> academic? -> a final choice among books / reference / media /
specific_datasets / web / unknown. ``media`` is offered in the final choice because the paper's label set
has it (its fineweb labels contain it); it folds into ``reference`` in the features.

The prompts are ours (the paper's were not released with the data). ``PROMPT_VERSION`` is part of every cache
key, so editing a prompt invalidates exactly the cached answers it affects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT_VERSION = "v1"

#: Every label a document can get (the paper's top-level labels).
LABELS: tuple[str, ...] = ("web", "code", "academic", "books", "reference", "media",
                           "specific_datasets", "incoherent", "unknown")

#: Labels that count as a content domain in the features; ``media`` folds into ``reference``.
FEATURE_DOMAINS: tuple[str, ...] = ("web", "code", "academic", "books", "reference", "specific_datasets")
FOLD_INTO = {"media": "reference"}

SYSTEM_PROMPT = ("You classify text documents by their domain. Follow the instructions exactly and reply with "
                 "only the requested word, without explanation.")


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


STAGES: tuple[Stage, ...] = (
    Stage("incoherent",
          "Is the text below incoherent: random characters, word salad, endless repetition of the same words or "
          "lines, or fragments that do not form meaningful language or code?", label="incoherent"),
    Stage("code",
          "Is the text below mainly source code, or programming-related material such as code snippets, "
          "configuration files, markup, shell sessions, logs or technical discussion of a program's code?",
          label="code"),
    Stage("web",
          "Is the text below typical web content: a news article, blog post, forum or social-media post, "
          "advertisement, product or shop page, review, or website boilerplate (navigation, comments, cookies)?",
          label="web"),
    Stage("academic",
          "Is the text below academic or scientific writing: a research paper or abstract, a thesis, lecture notes, "
          "a textbook passage, mathematics with derivations, or scholarly technical prose?", label="academic"),
    Stage("final",
          "Which category fits the text below best?\n"
          "- books: fiction, narrative or literary prose, stories, poems, non-fiction book chapters\n"
          "- reference: encyclopedia or dictionary entries, manuals, how-to guides, legal or government documents\n"
          "- media: transcripts of audio or video, subtitles, song lyrics, screenplays, podcast or interview scripts\n"
          "- specific_datasets: task-style data such as question/answer pairs, exam or math problems, "
          "instructions with responses, tables or lists of records\n"
          "- web: any other web page content\n"
          "- unknown: none of the above",
          choices=("books", "reference", "media", "specific_datasets", "web", "unknown")),
)


def build_messages(stage: Stage, text: str) -> list[dict[str, str]]:
    """The chat messages of one stage for one (already truncated) document."""
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
