"""The paper's script path for forward selection / ``--test_significance`` (``njsl predict select|significance``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from a checkout

from performance_prediction.cli import gradual_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(gradual_main(prog="performance_predict_from_db_gradual.py"))
