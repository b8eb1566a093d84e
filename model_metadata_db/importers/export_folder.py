"""Import an ``EXPORT DATABASE`` folder (the paper's release, or one written by ``AnalysisStore.export``)."""
from __future__ import annotations

from pathlib import Path

from ..report import ImportReport


def import_export_folder(store, folder: str | Path, *, on_conflict: str = "error") -> ImportReport:
    """Copy every known table of an export folder into ``store`` in one transaction under the conflict policy.

    Values are imported unchanged (the release's -1 markers, out-of-vocabulary values and alias ids included:
    ``njsl db check`` reports them, reads map the ids). Columns our schema has and the folder lacks stay NULL; a
    column the folder has and our schema lacks is an error (it would be silently lost); tables we do not know
    are skipped and listed in the report's warnings. The folder is read completely before anything is written.
    """
    from ..batch_import import parse_export
    parsed = parse_export(Path(folder))
    report = ImportReport(str(folder), warnings=list(parsed.warnings))
    return store.apply(parsed.batch, on_conflict=on_conflict, source=str(folder), report=report, canonical=False)
