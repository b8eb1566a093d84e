"""Free generations: sample text from a causal LM, unconditionally from BOS by default, in lm-eval's layout.

Each output line looks like one of lm-eval's ``--log_samples`` records, so every tagger reads it with
``--resps_format``::

    {"doc_id": 0, "doc": {"prompt": ""}, "target": "", "arguments": {"gen_args_0": {"arg_0": "", "arg_1": {...}}},
     "resps": [["generated text"]], "filtered_resps": ["generated text"], "model": "...", "seed": 0,
     "num_new_tokens": 213}

Unconditional generation starts every sample from the tokenizer's BOS token (or EOS when the model has no BOS,
as GPT-2 does: its EOS doubles as document separator); ``--prompts_file`` gives prompts instead (cycled).

Sampling is batched through Hugging Face ``generate`` with the KV cache. Batch ``b`` is seeded with
``seed + b``, so the text of a sample depends only on its batch, and a killed run resumes: finished batches
are appended to ``OUT.partial`` and skipped on restart; ``OUT`` appears (atomically) only when all are done.
An optional vLLM backend (``--backend vllm``) is used when vLLM is installed (GPU machines).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from njsl.atomic import atomic_path


class GenerationConfigError(ValueError):
    """A bad generation option, or a model/tokenizer that cannot generate unconditionally."""


@dataclass
class GenerationConfig:
    num_samples: int = 100
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    batch_size: int = 8

    def validate(self) -> None:
        checks = [("num_samples", self.num_samples >= 1, ">= 1"), ("max_new_tokens", self.max_new_tokens >= 1, ">= 1"),
                  ("temperature", self.temperature >= 0, ">= 0 (0 = greedy)"),
                  ("top_p", 0 < self.top_p <= 1, "in (0, 1]"), ("top_k", self.top_k >= 0, ">= 0 (0 = off)"),
                  ("batch_size", self.batch_size >= 1, ">= 1")]
        for name, ok, rule in checks:
            if not ok:
                raise GenerationConfigError(f"--{name} must be {rule}, got {getattr(self, name)!r}")

    def gen_kwargs(self) -> dict:
        """The sampling arguments as lm-eval records them (``arguments.gen_args_0.arg_1``)."""
        return {"do_sample": self.temperature > 0, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "max_gen_toks": self.max_new_tokens, "until": []}


def read_prompts(path: str | Path | None) -> list[str] | None:
    """Prompts, one per line of a text file, or the ``prompt``/``text`` field of each jsonl line."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--prompts_file not found: {path}")
    prompts = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix in (".jsonl", ".json"):
            try:
                rec = json.loads(line)
                prompts.append(str(rec.get("prompt", rec.get("text"))))
            except (ValueError, AttributeError) as exc:
                raise GenerationConfigError(f"{path}:{lineno}: not a JSON object with a 'prompt' field") from exc
        else:
            prompts.append(line)
    if not prompts:
        raise GenerationConfigError(f"--prompts_file {path} has no prompts")
    return prompts


def sample_record(doc_id: int, prompt: str, text: str, cfg: GenerationConfig, model: str, n_new: int) -> dict:
    """One output line in lm-eval's ``--log_samples`` layout."""
    return {"doc_id": doc_id, "doc": {"prompt": prompt}, "target": "",
            "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": cfg.gen_kwargs()}},
            "resps": [[text]], "filtered_resps": [text], "model": model, "seed": cfg.seed,
            "num_new_tokens": n_new}


class HFGenerator:
    """Batched sampling with ``transformers``' ``generate`` (KV cache on)."""

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        path = Path(model)
        if path.is_dir() and not any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json",
                                                                     "vocab.json", "tokenizer.model")):
            raise GenerationConfigError(f"model folder {path} has no tokenizer (tokenizer.json or "
                                        "tokenizer_config.json); save the tokenizer beside the weights")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        loaded: Any = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)  # .to(): no usable stub
        self.model = loaded.to(self.device).eval()
        tok = self.tokenizer
        self.start_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if self.pad_id is None:
            self.pad_id = self.start_id if self.start_id is not None else 0
        tok.padding_side = "left"  # prompts end where generation starts
        if tok.pad_token_id is None:
            tok.pad_token_id = self.pad_id

    def generate(self, prompts: list[str], cfg: GenerationConfig, seed: int) -> list[tuple[str, int]]:
        """(text, new tokens) for each prompt ("" = unconditional from BOS)."""
        torch = self.torch
        torch.manual_seed(seed)
        if all(p == "" for p in prompts):
            if self.start_id is None:
                raise GenerationConfigError("the tokenizer has neither a BOS nor an EOS token, so unconditional "
                                            "generation has no start token; pass --prompts_file")
            input_ids = torch.full((len(prompts), 1), self.start_id, dtype=torch.long, device=self.device)
            attention = torch.ones_like(input_ids)
        else:
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=True)
            input_ids, attention = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        kwargs = {"do_sample": cfg.temperature > 0, "max_new_tokens": cfg.max_new_tokens, "use_cache": True,
                  "pad_token_id": self.pad_id}
        if cfg.temperature > 0:
            # top_k=0 (not None) switches top-k off: None would fall back to the model's default (often 50).
            kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        new = out[:, input_ids.shape[1]:]
        results = []
        for row in new:
            ids = row.tolist()
            eos = self.tokenizer.eos_token_id
            n = ids.index(eos) if eos is not None and eos in ids else len(ids)  # stop at the first EOS
            results.append((str(self.tokenizer.decode(ids[:n], skip_special_tokens=True)), n))
        return results


class VLLMGenerator:
    """The same sampling through vLLM (GPU); imported only when chosen."""

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None):
        try:
            import vllm
        except ImportError as exc:
            raise GenerationConfigError("--backend vllm needs vLLM installed (pip install vllm, GPU machine)") from exc
        self.vllm = vllm
        self.llm = vllm.LLM(model=model, dtype=dtype or "auto", seed=0)
        tok = self.llm.get_tokenizer()
        self.start_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def generate(self, prompts: list[str], cfg: GenerationConfig, seed: int) -> list[tuple[str, int]]:
        # One seed per sample: a shared seed would make every sample of the batch the same text.
        params = [self.vllm.SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k or -1,
                                           max_tokens=cfg.max_new_tokens, seed=seed * 65_537 + k)
                  for k in range(len(prompts))]
        if self.start_id is None and any(p == "" for p in prompts):
            raise GenerationConfigError("the tokenizer has neither a BOS nor an EOS token, so unconditional "
                                        "generation has no start token; pass --prompts_file")
        inputs = [{"prompt_token_ids": [self.start_id]} if p == "" else p for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=False)
        return [(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]


BACKENDS: dict[str, type[HFGenerator] | type[VLLMGenerator]] = {"hf": HFGenerator, "vllm": VLLMGenerator}


def _done_batches(partial: Path) -> dict[int, list[dict]]:
    """Finished batches of an interrupted run (a torn last line is dropped: that batch is redone)."""
    done: dict[int, list[dict]] = {}
    if not partial.exists():
        return done
    for line in partial.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            break
        done.setdefault(rec["batch"], []).extend(rec["records"])
    return done


def generate_to_file(model: str, output: str | Path, cfg: GenerationConfig, *, prompts: list[str] | None = None,
                     backend: str = "hf", device: str | None = None, dtype: str | None = None) -> Path:
    """Write ``cfg.num_samples`` generations to ``output`` (jsonl, lm-eval layout); resumable, atomic."""
    cfg.validate()
    if backend not in BACKENDS:
        raise GenerationConfigError(f"--backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    header = {"model": model, "config": asdict(cfg), "prompts": prompts, "backend": backend}
    done = _done_batches(partial)
    if done:
        first = json.loads(partial.read_text(encoding="utf-8").splitlines()[0])
        if first.get("header") != header:
            raise GenerationConfigError(f"{partial} is from a run with other options; delete it or rerun with "
                                        "the same options")
    batches = [list(range(s, min(s + cfg.batch_size, cfg.num_samples)))
               for s in range(0, cfg.num_samples, cfg.batch_size)]
    todo = [b for b in range(len(batches)) if b not in done]
    if todo:
        gen = BACKENDS[backend](model, device=device, dtype=dtype)
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "a", encoding="utf-8") as fh:
            for b in tqdm(todo, desc="generate", unit="batch", disable=None):
                ids = batches[b]
                batch_prompts = [prompts[i % len(prompts)] if prompts else "" for i in ids]
                texts = gen.generate(batch_prompts, cfg, seed=cfg.seed + b)
                records = [sample_record(i, p, t, cfg, model, n) for i, p, (t, n) in zip(ids, batch_prompts, texts,
                                                                                         strict=False)]
                done[b] = records
                # Each line is one whole batch, flushed and synced: a kill leaves whole batches or a torn tail.
                fh.write(json.dumps({"batch": b, "header": header, "records": records}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for b in range(len(batches)):
            for rec in done[b]:
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    partial.unlink(missing_ok=True)
    return output
