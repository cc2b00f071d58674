"""A LOBSTER sample written from message and order-book lines: the two files, named as
LOBSTER names them, in a folder the loader opens."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GOOG = SHARED / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
AAPL = SHARED / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"  # the touch only


def write_sample(folder: Path, levels: int, messages: list[str], books: list[str]) -> Path:
    stem = f"AAA_2012-06-21_34200000_57600000_{{kind}}_{levels}.csv"
    (folder / stem.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / stem.format(kind="orderbook")).write_text("\n".join(books) + "\n")
    return folder
