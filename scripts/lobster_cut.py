"""Cut a LOBSTER sample to its first levels (and rows): the files a LOBSTER download of fewer
levels would hold, less the events below the kept levels, which stay in the message file.

The cut is what the book checks are run on to show they hold at other depths than the file's
own (docs/simulator.md, "Book check"). Run from the project root:

    .venv/bin/python scripts/lobster_cut.py \\
        ../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip --levels 5 --out /tmp/goog5
    .venv/bin/execagent book-check /tmp/goog5 --impact none

The output folder gets the two files, named as LOBSTER names them with the new level count.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from sim.lobster import LobsterFormatError, open_sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a LOBSTER sample: zip or folder")
    parser.add_argument("--levels", type=int, required=True, help="levels to keep")
    parser.add_argument("--rows", type=int, default=None, help="rows to keep (default all)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the cut files")
    args = parser.parse_args()
    try:
        sample = open_sample(args.path)
        if not 1 <= args.levels <= sample.levels:
            raise LobsterFormatError(f"--levels must be 1 to {sample.levels}, the file's")
        messages = sample.read_bytes(sample.message_name).decode().splitlines()
        books = sample.read_bytes(sample.orderbook_name).decode().splitlines()
    except (LobsterFormatError, OSError, UnicodeDecodeError) as exc:
        print(f"lobster_cut: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"_{sample.levels}.csv"
    for name, lines in ((sample.message_name, messages), (sample.orderbook_name, books)):
        if name is sample.orderbook_name:
            lines = [",".join(line.split(",")[:4 * args.levels]) for line in lines]
        kept = itertools.islice(lines, args.rows)
        (args.out / (name.removesuffix(suffix) + f"_{args.levels}.csv")).write_text(
            "\n".join(kept) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
