"""How well ``code_features`` tells code from prose (it measures only what it detects as code).

    python benchmarks/bench_code_detector.py

Prose: the shared fineweb documents whose cascade label is not ``code`` (``$NJSL_SHARED_DIR/data/domain_labels``)
plus German and Chinese sentences. Code: the first 94 standard-library Python files of 1-20 KB (tests left out)
and up to 30 files each of ``.js``, ``.c``, ``.h``, ``.cpp``, ``.hpp`` of 1-20 KB shipped inside this Python
environment (``sys.prefix``), sorted by path. Documents carry no language or path, so detection decides.
Prints, per group, how many documents were measured as code, and the detector's precision and recall.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OTHER = ("de", "Die Katze sitzt auf dem Tisch und schaut aus dem Fenster. Morgen fahren wir mit dem Zug nach Berlin, "
         "weil wir dort Freunde besuchen wollen.\nDas Wetter soll schön werden; wir freuen uns sehr darauf.")
CHINESE = ("zh", "这是一个中文句子。我们今天去公园散步，天气很好。\n明天我们要去北京看朋友，然后一起吃饭。")


def code_files(n_python: int = 94, n_other: int = 30) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"py": []}
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if {"test", "tests", "site-packages"} & set(path.parts):
            continue
        if 1_000 <= path.stat().st_size <= 20_000:
            groups["py"].append(path.read_text(encoding="utf-8", errors="replace"))
            if len(groups["py"]) >= n_python:
                break
    for ext in ("js", "c", "h", "cpp", "hpp"):
        files = sorted(p for p in Path(sys.prefix).rglob(f"*.{ext}") if 1_000 <= p.stat().st_size <= 20_000)
        groups[ext] = [p.read_text(encoding="utf-8", errors="replace") for p in files[:n_other]]
    return groups


def main() -> int:
    import pandas as pd

    from njsl.documents import Document

    from data_tagging import tag_documents

    print(f"load average before: {os.getloadavg()}")
    shared = Path(os.environ.get("NJSL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
    labels = pd.read_csv(shared / "data" / "domain_labels" / "fineweb_sample_predicted_domains.csv",
                         keep_default_na=False)
    groups = {"web prose": labels.loc[labels["prediction"] != "code", "text"].tolist(),
              "web labelled code": labels.loc[labels["prediction"] == "code", "text"].tolist(),
              "German/Chinese": [OTHER[1], CHINESE[1]]}
    groups.update({f"code .{k}": v for k, v in code_files().items() if v})
    print("| group | documents | measured as code | languages found |")
    print("|---|---:|---:|---|")
    found = {}
    for name, texts in groups.items():
        df = tag_documents([Document(str(i), t) for i, t in enumerate(texts)], "code_features")
        measured = df["code_skip_reason"].isna()
        found[name] = (int(measured.sum()), len(texts))
        langs = df.loc[measured, "code_language"].value_counts().to_dict()
        print(f"| {name} | {len(texts)} | {int(measured.sum())} | {langs} |")
    prose_fp = found["web prose"][0] + found["German/Chinese"][0]
    prose_n = found["web prose"][1] + found["German/Chinese"][1]
    code_tp = sum(v[0] for k, v in found.items() if k.startswith("code "))
    code_n = sum(v[1] for k, v in found.items() if k.startswith("code "))
    print(f"prose measured as code: {prose_fp}/{prose_n} ({prose_fp / prose_n:.1%}); code files measured: "
          f"{code_tp}/{code_n} (recall {code_tp / code_n:.1%}); precision on this set "
          f"{code_tp / (code_tp + prose_fp):.1%}")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
