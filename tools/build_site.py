"""Build the static site: every notebook executed top to bottom on a fresh kernel and rendered to
HTML with its outputs (figures embedded), and an index page that lists them.

Notebooks are committed without outputs; the site is where a
reader sees them run. ``.github/workflows/site.yml`` builds it on every push to main and publishes
it with GitHub Pages; the test suite builds it from one notebook and opens it in a real browser.

    python tools/build_site.py site/                       # every notebook, about 9 minutes on 2 CPU cores
    python tools/build_site.py site/ notebooks/01_encoder.ipynb

The site is written beside ``OUT`` and swapped in whole: a failed build leaves the old one as it was.
"""

from __future__ import annotations

import html
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/latentseg/latentseg"


def _title(nb: nbformat.NotebookNode) -> str:
    first = nb.cells[0].source if nb.cells else ""
    return next((line[2:].strip() for line in first.splitlines() if line.startswith("# ")), "untitled")


def _run_time(nb: nbformat.NotebookNode) -> str:
    found = re.search(r"\*Run time: ([^*;]+)", nb.cells[0].source if nb.cells else "")
    return found.group(1).strip() if found else ""


def render(path: Path, out: Path) -> dict[str, str]:
    """Execute the notebook at ``path`` in its own folder and write ``out/<stem>.html``; a cell that
    raises stops the build (``CellExecutionError``, naming the cell)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata.pop("widgets", None)  # progress-bar state would render as dead widgets
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (out / f"{path.stem}.html").write_text(body, encoding="utf-8")
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.0f} s")
    return {"page": f"{path.stem}.html", "title": _title(nb), "run_time": _run_time(nb), "seconds": f"{seconds:.0f}"}


def index_page(entries: list[dict[str, str]]) -> str:
    rows = "\n".join(
        f'<li><a href="{html.escape(e["page"])}">{html.escape(e["title"])}</a>'
        f'<span class="time">{html.escape(e["run_time"])}</span></li>' for e in entries)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>latentseg: the notebooks, executed</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; line-height: 1.5 }}
li {{ margin: .4rem 0 }} .time {{ color: #666; margin-left: .6rem; font-size: .9em }}</style></head>
<body><h1>latentseg</h1>
<p>Semantic segmentation with latent attention and expert segmentation, in PyTorch: the notebooks of the
series, each executed top to bottom on a CPU when this page was built. Open any of them in Colab from
its first cell, or read the code at <a href="{REPOSITORY}">{REPOSITORY}</a>.</p>
<ol>
{rows}
</ol></body></html>
"""


def build(out: Path, notebooks: list[Path]) -> Path:
    """Render ``notebooks`` and an ``index.html`` into a staging folder beside ``out``, then swap it in."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: is a file; expected the folder to write the site into")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        entries = [render(path, staging) for path in notebooks]
        (staging / "index.html").write_text(index_page(entries), encoding="utf-8")
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python tools/build_site.py OUT [NOTEBOOK ...]", file=sys.stderr)
        return 2
    notebooks = [Path(p) for p in argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"build_site: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(f"site written to {build(Path(argv[0]), notebooks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
