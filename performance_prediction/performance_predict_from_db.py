"""The paper's script path: ``python performance_prediction/performance_predict_from_db.py --metric ...``.

Thin wrapper around ``performance_prediction.cli.main`` (same as ``njsl predict``).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from a checkout

from performance_prediction.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="performance_predict_from_db.py"))
