"""The quickstart notebook runs headless, top to bottom, with a tiny training budget, and shows its results."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"


def test_quickstart_notebook_runs_and_shows_images_and_metrics(tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(o for c in nb.cells if c.cell_type == "code" for o in c.outputs), "commit the notebook unexecuted"
    # The kernel inherits the environment: a few training steps, one thread (the tiny nets only lose time to
    # thread contention on a shared CPU), and the session's demo-data cache (conftest.demo_data_home).
    monkeypatch.setenv("TZ_NOTEBOOK_STEPS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    # Run in tmp_path: anything the notebook writes lands there.
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("traceback")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the data, the model's outputs, model.translate's outputs
    tables = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    for name in ("val/fid_digits_mnist", "val/acc_digits_mnist", "val/ssim"):
        assert name in tables
    assert not list(tmp_path.iterdir())  # no logger, no checkpoints: nothing written
