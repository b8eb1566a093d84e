"""Importers into the store; each runs in one transaction and re-importing the same input is a no-op."""
from __future__ import annotations

from .export_folder import import_export_folder
from .hf_config import annotation_from_hf_config, count_params, read_hf_config
from .lm_eval import import_lm_eval_results

__all__ = ["import_export_folder", "import_lm_eval_results", "annotation_from_hf_config", "count_params",
           "read_hf_config", "import_metadata_records"]


def __getattr__(name: str):
    # Imported lazily: the metadata-records importer loads JSON schemas (jsonschema) only when used.
    if name in ("import_metadata_records", "import_metadata_record"):
        from . import metadata_records
        return getattr(metadata_records, name)
    raise AttributeError(name)
