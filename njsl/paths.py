"""Where things live: the repository root and the shared data folder (never copied into the project)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_ENV_VAR = "NJSL_SHARED_DIR"


def shared_dir() -> Path:
    """The shared data folder: ``$NJSL_SHARED_DIR`` if set, else ``../shared`` beside the repository root."""
    env = os.environ.get(SHARED_ENV_VAR)
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared").resolve()


def paper_release_dir() -> Path:
    """The paper's DuckDB ``EXPORT DATABASE`` folder inside the shared data."""
    return shared_dir() / "data" / "paper_db_2025_03_03"


def metadata_records_dir() -> Path:
    return shared_dir() / "data" / "metadata_records"


def generation_features_csv() -> Path:
    return shared_dir() / "data" / "generation_features" / "all_models_feature_stats_3_03_with_ratios.csv"


def domain_labels_csv() -> Path:
    return shared_dir() / "data" / "domain_labels" / "fineweb_sample_predicted_domains.csv"
