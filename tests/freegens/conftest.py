"""Fixtures for the freegens tests: a local chat-completions server and a tiny causal LM built in the test."""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

STAGE_KEYS = (("incoherent", "incoherent"), ("code", "programming code"), ("web", "web content"),
              ("academic", "academic or patent"), ("final", "Which category"))


def fake_answer(stage: str, text: str) -> str:
    """Deterministic replies in the messy formats real models use (markup, punctuation, extra words)."""
    t = text.lower()
    yes = {"incoherent": "gibberish" in t, "code": "def " in t or "import " in t,
           "web": "subscribe" in t, "academic": "theorem" in t}
    if stage in yes:
        return "**Yes.**" if yes[stage] else "No, it is not."
    if "once upon" in t:
        return "Books."
    if "question:" in t:
        return "Category: Specific Datasets"
    if "lyrics" in t:
        return "media"
    if "nothing" in t:
        return "I am not sure what this is."  # unparsable: must become 'unknown'
    return "The answer is: **Reference**"


class ChatServer:
    """A bounded chat-completions server on 127.0.0.1 with injectable failures (429, 500, timeout, 401)."""

    def __init__(self, timeout_sleep: float = 3.0):
        self.failures: deque[str] = deque()     # consumed one per request, before answering
        self.fail_texts: set[str] = set()       # documents whose every request fails with 500
        self.timeout_sleep = timeout_sleep
        self.delay = 0.0                        # seconds before every answer (kill test)
        self.inflight = self.max_inflight = 0   # concurrent requests being answered
        self.requests = 0
        self.answered = 0
        self.stage_calls: Counter = Counter()
        self.auth_headers: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests += 1
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                    failure = server.failures.popleft() if server.failures else None
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                user = payload["messages"][-1]["content"]
                text = re.search(r"<text>\n(.*)\n</text>", user, re.S).group(1)
                if failure == "429":
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                                      {"retry-after": "0.01"})
                if failure == "500" or text in server.fail_texts:
                    return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                if failure == "401":
                    return self._send(401, {"error": {"message": "bad key", "type": "invalid_api_key"}})
                if failure == "timeout":
                    time.sleep(server.timeout_sleep)  # past the client's timeout: it has given up
                    return self._send(200, {"error": "too late"})
                with server.lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                if server.delay:
                    time.sleep(server.delay)
                stage = next(name for name, key in STAGE_KEYS if key in user.split("\n")[0])
                reply = fake_answer(stage, text)
                with server.lock:
                    server.inflight -= 1
                    server.answered += 1
                    server.stage_calls[stage] += 1
                self._send(200, {
                    "id": f"chatcmpl-{server.requests}", "object": "chat.completion", "created": 0,
                    "model": payload["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                    "usage": {"prompt_tokens": len(user.split()), "completion_tokens": len(reply.split()),
                              "total_tokens": len(user.split()) + len(reply.split())}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def reset_counts(self) -> None:
        with self.lock:
            self.requests = self.answered = 0
            self.stage_calls.clear()


@pytest.fixture
def chat_server():
    server = ChatServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


SAMPLE_DOCS = {  # every one at least 50 characters: shorter texts never reach the model (the paper's rule)
    "d-incoherent": "gibberish qzx vvv plk qzx vvv plk qzx vvv plk qzx vvv",
    "d-code": "import os\n\ndef main():\n    return os.getcwd()\n\nmain()\n",
    "d-web": "Great deals today! Subscribe to our newsletter and follow us for more.",
    "d-academic": "We prove the main theorem of the paper using a compactness argument.",
    "d-books": "Once upon a time there lived a king who had three daughters.",
    "d-datasets": "Question: what is 2 + 3? Answer: 5. Question: and 4 + 4? Answer: 8",
    "d-media": "[Chorus] these lyrics go on and on, la la la, on and on and on",
    "d-reference": "Paris is the capital and most populous city of France.",
    "d-unknown": "nothing in particular here, nothing at all to see here",
}
EXPECTED_LABELS = {"d-incoherent": "incoherent", "d-code": "code", "d-web": "web", "d-academic": "academic",
                   "d-books": "books", "d-datasets": "specific_datasets", "d-media": "media",
                   "d-reference": "reference", "d-unknown": "unknown"}


@pytest.fixture
def sample_docs_jsonl(tmp_path) -> Path:
    path = tmp_path / "docs.jsonl"
    with open(path, "w") as fh:
        for k, v in SAMPLE_DOCS.items():
            fh.write(json.dumps({"id": k, "text": v}) + "\n")
    return path


def stdlib_texts(stdlib_dir: Path, n_files: int = 40) -> tuple[list[str], list[str]]:
    """(code chunks, docstrings) from the standard library: real code and real English prose."""
    import ast

    code, prose = [], []
    for path in sorted(stdlib_dir.glob("*.py"))[:n_files]:
        src = path.read_text(encoding="utf-8", errors="replace")
        lines = src.splitlines()
        code += ["\n".join(lines[i:i + 30]) for i in range(0, min(len(lines), 300), 30)]
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= 12:
                    prose.append(doc)
    return code, prose


@pytest.fixture(scope="session")
def labelled_csv(stdlib_dir, tmp_path_factory) -> Path:
    """A small labelled CSV (text, language, prediction): stdlib code, docstrings, random character noise."""
    import csv
    import random

    code, prose = stdlib_texts(stdlib_dir)
    rng = random.Random(0)
    noise = ["".join(rng.choice("qxzjvkw ") for _ in range(200)) for _ in range(40)]
    path = tmp_path_factory.mktemp("labelled") / "labelled.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "language", "prediction"])
        for texts, label in ((code[:80], "code"), (prose[:80], "reference"), (noise, "incoherent")):
            for t in texts:
                w.writerow([t, "en", label])
    return path


@pytest.fixture(scope="session")
def tiny_model(stdlib_dir, tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with a BPE tokenizer trained here on stdlib text (no downloads)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.set_num_threads(1)
    code, prose = stdlib_texts(stdlib_dir, n_files=20)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(code + prose, trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                     pad_token="<pad>")
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                      bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id,
                      pad_token_id=hf_tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out


@pytest.fixture
def sample_docs() -> dict[str, str]:
    return dict(SAMPLE_DOCS)


@pytest.fixture
def expected_labels() -> dict[str, str]:
    return dict(EXPECTED_LABELS)


# A tiny random BERT (test_encoder.py, test_stack.py): the sentence-encoder code path without a download.
WORDS = ["the", "a", "of", "and", "to", "in", "is", "it", "def", "return", "import", "class", "self", "print", "code",
         "list", "value", "error", "file", "story", "said", "she", "he", "chapter", "news", "click", "buy", "price",
         "theorem", "proof", "study", "data"]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A randomly initialised 2-layer BERT and a WordPiece tokenizer over a small vocabulary, saved as a folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz0123456789():.,="]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder
