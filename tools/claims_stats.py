"""Run notebooks under many seeds and thread counts and tabulate every quantity their asserts compare.

Each notebook runs top to bottom on a fresh kernel (nbclient) with ``LATENTSEG_SEED`` and
``OMP_NUM_THREADS`` set, the learner's number of steps, and a fresh ``LATENTSEG_DATA`` folder (so
no trained model is shared between runs). Every top-level ``assert`` is rewritten before it runs: the
values on both sides of each comparison are recorded with whether the assert held, and the run goes
on, so one run shows every claim that fails, not only the first. ``tools/claims-stats`` is the entry point.

Usage: tools/claims-stats [notebook ...] [--seeds 0-7] [--threads 2 1] [--out docs/claims]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDER = '''
import json as _claims_json
def _claims_record(cell, index, message, test, holds, values):
    with open({log!r}, "a") as _f:
        _f.write(_claims_json.dumps({{"cell": cell, "index": index, "message": message, "test": test,
                                      "holds": bool(holds), "values": values}}) + "\\n")
def _claims_value(thunk):
    try:
        value = thunk()
        if hasattr(value, "item") and getattr(value, "numel", lambda: getattr(value, "size", 1))() == 1:
            value = value.item()
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except Exception:
        return None
'''


class _Instrument(ast.NodeTransformer):
    """Turns ``assert test, message`` into a call that records the operands and goes on."""

    def __init__(self, cell: int):
        self.cell, self.count = cell, 0

    def visit_FunctionDef(self, node):  # asserts inside functions belong to the function: leave them
        return node

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

    def visit_Assert(self, node: ast.Assert):
        operands = []
        for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            for side in [compare.left, *compare.comparators]:
                if not isinstance(side, ast.Constant):
                    operands.append(side)
        values = ast.Dict(keys=[ast.Constant(ast.unparse(side)) for side in operands],
                          values=[ast.Call(ast.Name("_claims_value", ast.Load()),
                                           [ast.Lambda(ast.arguments([], [], None, [], [], None, []), side)], [])
                                  for side in operands])
        message = node.msg if node.msg is not None else ast.Constant(ast.unparse(node.test))
        holds = ast.Call(ast.Name("bool", ast.Load()), [node.test], [])
        call = ast.Call(ast.Name("_claims_record", ast.Load()),
                        [ast.Constant(self.cell), ast.Constant(self.count), message, ast.Constant(ast.unparse(node.test)),
                         holds, values], [])
        self.count += 1
        return ast.copy_location(ast.Expr(call), node)


def instrument(notebook: dict, log: Path) -> dict:
    """A copy of ``notebook`` whose asserts record to ``log`` instead of stopping the run."""
    import nbformat

    cells = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            try:
                tree = _Instrument(number).visit(ast.parse(cell.source))
                cell = nbformat.v4.new_code_cell(ast.unparse(ast.fix_missing_locations(tree)))
            except SyntaxError:  # IPython magics: run the cell as it is
                pass
        cells.append(cell)
    notebook = nbformat.from_dict(dict(notebook, cells=[nbformat.v4.new_code_cell(RECORDER.format(log=str(log))), *cells]))
    return notebook


def run_one(path: Path, seed: int, threads: int, data: Path, timeout: int, executed: Path | None = None) -> dict:
    """Execute ``path`` under one seed and thread count; the records of its asserts and the seconds. With
    ``executed``, the notebook as written, with this run's outputs, goes there (to read as a learner)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    log = data / f"claims-{path.stem}.jsonl"
    env = {key: value for key, value in os.environ.items() if key != "LATENTSEG_STEPS"}
    env.update(LATENTSEG_SEED=str(seed), LATENTSEG_LEARNER_STEPS="1", LATENTSEG_DATA=str(data),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    notebook = instrument(nbformat.read(path, as_version=4), log)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start, error = time.perf_counter(), None
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    except CellExecutionError as err:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()[-1][:300]  # without terminal colours
    finally:
        os.environ.clear()
        os.environ.update(saved)
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if executed is not None:
        original = nbformat.read(path, as_version=4)
        for cell, ran in zip(original.cells, notebook.cells[1:], strict=True):  # [0] is the recorder
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = ran.get("outputs", []), ran.get("execution_count")
        executed.mkdir(parents=True, exist_ok=True)
        nbformat.write(original, executed / f"{path.stem}-seed{seed}-threads{threads}.ipynb")
    printed = {number - 1: "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
               for number, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    return {"notebook": path.stem, "seed": seed, "threads": threads, "seconds": round(time.perf_counter() - start, 1),
            "error": error, "records": records, "printed": {k: v[-3000:] for k, v in printed.items() if v}}


def current_asserts(notebook: str) -> set[str] | None:
    """The tests of the asserts ``notebooks/<notebook>.ipynb`` holds now (``None`` if it is not there)."""
    import nbformat

    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    if not path.is_file():
        return None
    tests = set()
    for cell in nbformat.read(path, as_version=4).cells:
        try:
            tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        except SyntaxError:
            continue
        tests |= {ast.unparse(node.test) for node in ast.walk(tree or ast.Module([], [])) if isinstance(node, ast.Assert)}
    return tests


def summarise(runs: list[dict]) -> str:
    """A markdown table: per notebook and assert, how many runs it held in and each operand's min/median/max.
    Asserts the notebook no longer holds (changed since a run) are left out."""
    claims: dict[tuple, dict] = {}
    current = {notebook: current_asserts(notebook) for notebook in {r["notebook"] for r in runs}}
    for run in runs:
        for record in run["records"]:
            if current[run["notebook"]] is not None and record["test"] not in current[run["notebook"]]:
                continue
            key = (run["notebook"], record["test"], record["message"])  # not the cell: cells move between runs
            claim = claims.setdefault(key, {"message": record["message"], "test": record["test"], "holds": 0,
                                            "runs": set(), "failed": [], "values": {}})
            claim["order"] = (record["cell"], record["index"])  # where the latest run found it
            tag = f"{run['seed']}/{run['threads']}"
            if tag not in claim["runs"]:
                claim["runs"].add(tag)
                claim["holds"] += 1
            if not record["holds"]:
                claim["failed"].append(tag)
            for name, value in record["values"].items():
                if value is not None:
                    claim["values"].setdefault(name, []).append(value)
    lines = [
        "# What the notebooks assert, over many runs",
        "",
        "Written by `tools/claims-stats` (do not edit by hand): every notebook named below executed top to bottom",
        "on a fresh kernel under each seed and CPU thread count (one thread adds numbers in another order, as",
        "another machine does), at the learner's number of steps. For every `assert`, the runs it held in, the",
        "runs it failed in, and each compared quantity's smallest, median and largest value over those runs.",
        "",
        "| notebook | runs (seed/threads) | seconds: min · median · max |", "|---|---|---|",
    ]
    for notebook in sorted({r["notebook"] for r in runs}):
        mine = [r for r in runs if r["notebook"] == notebook]
        tags = ", ".join(f"{r['seed']}/{r['threads']}" for r in sorted(mine, key=lambda r: (r["threads"], r["seed"])))
        seconds = [r["seconds"] for r in mine]
        lines.append(f"| {notebook} | {tags} | {min(seconds):.0f} · {statistics.median(seconds):.0f} · {max(seconds):.0f} |")
    lines += ["", "Seconds are wall-clock on the machine that ran the table, and include any other load at the time.", "",
              "| notebook | claim | assert | held | failed in (seed/threads) | quantity: min · median · max |",
              "|---|---|---|---|---|---|"]
    for (notebook, *_), claim in sorted(claims.items(), key=lambda item: (item[0][0], item[1]["order"])):
        failed = sorted(set(claim["failed"]))
        held = len(claim["runs"]) - len(failed)
        quantities = "<br>".join(f"`{name}`: {min(v):.3g} · {statistics.median(v):.3g} · {max(v):.3g}"
                                 for name, v in claim["values"].items())
        message, test = (str(claim[k]).replace("|", "\\|") for k in ("message", "test"))
        lines.append(f"| {notebook} | {message} | `{test}` | {held}/{len(claim['runs'])} | {', '.join(failed) or '—'} | "
                     f"{quantities or '—'} |")
    errors = [f"- {r['notebook']} seed {r['seed']}, {r['threads']} thread(s): {r['error']}" for r in runs if r["error"]]
    return "\n".join(lines + (["", "Runs that stopped with an error:", *errors] if errors else []))


def report(run: dict) -> None:
    failed = [r["message"] for r in run["records"] if not r["holds"]]
    print(f"{run['notebook']} seed {run['seed']} threads {run['threads']}: {run['seconds']:.0f} s, "
          f"{len(run['records'])} asserts, {len(failed)} failed {failed or ''}"
          f"{' ERROR ' + run['error'] if run['error'] else ''}", flush=True)


def save(runs: list[dict], out: Path) -> None:
    """OUT.json and OUT.md, each replaced whole (never half-written)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    printed = [{"notebook": r["notebook"], "seed": r["seed"], "threads": r["threads"], "printed": r.get("printed", {})}
               for r in runs]
    records = [{k: v for k, v in r.items() if k != "printed"} for r in runs]
    for path, text in [(out.with_suffix(".json"), json.dumps(records, indent=1)),
                       (out.with_name(out.name + "-printed.json"), json.dumps(printed, indent=1)),
                       (out.with_suffix(".md"), summarise(runs) + "\n")]:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/claims-stats", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every notebook)")
    parser.add_argument("--seeds", default="0-7", help="a range 0-7 or a list 0,3,5 (default 0-7)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts (default 2 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "claims",
                        help="writes OUT.json (every record), OUT.md (the table) and OUT-printed.json (what each code "
                             "cell printed, to read prose against every run); runs already in OUT.json are kept")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--executed", type=Path, default=None,
                        help="also write each executed notebook (as written, with the run's outputs) into this folder")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        parser.exit(2, f"claims-stats: --seeds is a range like 0-7 or a list like 0,3,5, got {args.seeds!r}\n")
    if any(t < 1 for t in args.threads):
        parser.exit(2, f"claims-stats: --threads must be ≥ 1, got {args.threads}\n")
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.exit(2, f"claims-stats: no such notebook: {', '.join(missing)}\n")
    store, printed = args.out.with_suffix(".json"), args.out.with_name(args.out.name + "-printed.json")
    runs = json.loads(store.read_text()) if store.exists() else []
    if printed.exists():
        by_run = {(p["notebook"], p["seed"], p["threads"]): p["printed"] for p in json.loads(printed.read_text())}
        runs = [dict(r, printed=by_run.get((r["notebook"], r["seed"], r["threads"]), {})) for r in runs]
    sys.path.insert(0, str(ROOT / "tests"))
    from standins import write_pets_layout

    for threads in args.threads:
        for seed in seeds:
            with tempfile.TemporaryDirectory(prefix="latentseg-claims-") as data:  # one run's cache: 02–04 share a model
                write_pets_layout(data, num_trainval=40, num_test=10)
                for path in notebooks:
                    run = run_one(path.resolve(), seed, threads, Path(data), args.timeout, args.executed)
                    runs = [r for r in runs if (r["notebook"], r["seed"], r["threads"]) != (path.stem, seed, threads)]
                    runs.append(run)
                    report(run)
                    save(runs, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
