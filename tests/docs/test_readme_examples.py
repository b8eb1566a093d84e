"""Every YAML/JSON block in the READMEs parses (a reader copying an example must get a valid file);
mix examples also pass the mix validator, and run-config examples the config validator."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```(yaml|yml|json)[ \t]*\n(.*?)^```", re.S | re.M)


def readme_blocks(root: Path = REPO) -> list[tuple[str, int, str, str]]:
    """(README path, line, language, body) of every fenced yaml/yml/json block in the repository's Markdown."""
    out = []
    for path in sorted(root.rglob("*.md")):
        if {".venv", "node_modules", ".git"} & set(path.relative_to(root).parts):
            continue
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            out.append((str(path.relative_to(root)), text[:m.start()].count("\n") + 1, m.group(1), m.group(2)))
    return out


BLOCKS = readme_blocks()


def test_blocks_are_found():
    assert any(lang == "yaml" for _, _, lang, _ in BLOCKS) and any(lang == "json" for _, _, lang, _ in BLOCKS)


@pytest.mark.parametrize("where,line,lang,body", BLOCKS, ids=[f"{w}:{n}" for w, n, _, _ in BLOCKS])
def test_readme_block_is_valid(where, line, lang, body):
    try:
        data = json.loads(body) if lang == "json" else yaml.safe_load(body)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        pytest.fail(f"{where}:{line}: the {lang} example does not parse: {exc}")
    if isinstance(data, dict) and "domains" in data:  # a data mix: the mix validator too (paths not checked)
        from pretraining.data.mixes import parse_yaml_mix

        parse_yaml_mix(data, source=f"{where}:{line}", env={"DATA_ROOT": "/data"}, check_paths=False)


def test_an_invalid_block_is_caught(tmp_path):
    (tmp_path / "README.md").write_text("```yaml\n- {path: ${DATA_ROOT}/x}\n```\n")
    (block,) = readme_blocks(tmp_path)
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(block[3])
