"""Execute notebooks and keep only the outputs that nbval checks.

Notebooks are committed without outputs, except cells marked ``# NBVAL_CHECK_OUTPUT``: those keep
their plain-text output so that ``pytest --nbval-lax`` compares it. Run after editing a notebook:

    python tools/pin_outputs.py notebooks/*.ipynb
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def pin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = cell.source.startswith(MARK)
        cell.outputs = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"] if keep else []
        for output in cell.outputs:
            output.pop("execution_count", None)
        count += keep
        cell.execution_count = count if keep else None  # nbval skips pinned outputs of "unrun" cells
        cell.metadata = {}
    nb.metadata.pop("widgets", None)  # widget state of progress bars: noise in diffs
    nbformat.write(nb, path)
    print(f"{path}: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        pin(Path(name))
