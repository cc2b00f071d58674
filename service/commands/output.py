"""Console output of the CLI commands: one-line errors on stderr, and the output console.

Plain text, not rich: a rich console wraps long lines at the terminal width and reads ``[...]``
in paths and pydantic messages as markup, and an operator's log scraper wants one line per error.
"""

from __future__ import annotations

import sys

from rich.console import Console


def print_error(message: str) -> None:
    print(" ".join(message.split()), file=sys.stderr, flush=True)


def output_console() -> Console:
    """The console for a command's normal output. Piped or captured (CI, ``make demo | tee``),
    rich assumes 80 columns and squeezes the report table into wrapped cells; 120 fits it."""
    return Console() if sys.stdout.isatty() else Console(width=120)
