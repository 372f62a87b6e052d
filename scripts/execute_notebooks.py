#!/usr/bin/env python3
"""Executes Jupyter notebooks headless with nbclient, as CI does (see scripts/run-notebooks).

usage: execute_notebooks.py NOTEBOOK... [--out DIR]

Each notebook runs in its own folder (so relative paths resolve as when opened in Jupyter), with a
kernel of this Python. The executed copies (with their outputs) go to DIR when given; the
committed notebooks are never modified. Exits non-zero when any cell of any notebook fails, and
ends with the line 'notebooks: N passed, M failed'.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="folder for the executed copies")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = ap.parse_args()
    passed, failed = 0, 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        # The kernel listens on the loopback interface only (jupyter_client's default).
        client = NotebookClient(
            nb,
            timeout=args.timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )
        t0 = time.monotonic()
        try:
            client.execute()
            passed += 1
            print(f"ok      {path} ({time.monotonic() - t0:.1f} s)", flush=True)
        except CellExecutionError as e:
            failed += 1
            print(f"FAILED  {path}\n{e}", flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, args.out / path.name)
    print(f"notebooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
