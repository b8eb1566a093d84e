"""A persistent cache of model answers, one row per (prompt version, model, stage, document text).

Every answer is committed as soon as it arrives, so a killed run loses at most the requests in flight and
the same command resumes where it stopped; a finished rerun sends no request at all.
SQLite (stdlib) in WAL mode: safe against a kill, readable while another process holds it.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path


def answer_key(prompt_version: str, model: str, stage: str, text: str) -> str:
    """The cache key: a hash of everything that determines the answer (the text never leaves the hash)."""
    h = hashlib.sha256()
    for part in (prompt_version, model, stage, text):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class CachedAnswer:
    reply: str
    prompt_tokens: int
    completion_tokens: int


class AnswerCache:
    """``get``/``put`` model replies by key; ``path=None`` keeps them in memory only."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(":memory:" if self.path is None else str(self.path))
        if self.path is not None:
            self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, reply TEXT NOT NULL, "
                          "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL)")
        self._con.commit()

    def get(self, key: str) -> CachedAnswer | None:
        row = self._con.execute("SELECT reply, prompt_tokens, completion_tokens FROM answers WHERE key = ?",
                                (key,)).fetchone()
        return None if row is None else CachedAnswer(*row)

    def put(self, key: str, answer: CachedAnswer) -> None:
        self._con.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                          (key, answer.reply, answer.prompt_tokens, answer.completion_tokens))
        self._con.commit()

    def __len__(self) -> int:
        return self._con.execute("SELECT count(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
