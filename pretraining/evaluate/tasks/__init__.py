"""lm-evaluation-harness task configs shipped with the project.

- ``njsl_local/``: small multiple-choice tasks whose data lie beside their YAML (no download; built from
  Python's standard library by :mod:`pretraining.evaluate.tasks.build_local_tasks`).
- ``groups.yml``: the paper's evaluation settings as named task groups (read by
  :mod:`pretraining.evaluate.lm_eval`; ``.yml`` on purpose so lm-eval's ``*.yaml`` index does not take it for a task).

Pass this folder to ``lm_eval.tasks.TaskManager(include_path=...)`` (``njsl eval`` does) to use the tasks.
"""
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
