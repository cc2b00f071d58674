"""LOBSTER's prices of an empty level, and ours: constants without numpy, so a compiled module
(``sim/visible_book.py``, built where numpy is not installed) can import them."""

from __future__ import annotations

from typing import Final

EMPTY_ASK: Final = 9_999_999_999  # LOBSTER's price of an empty ask level
EMPTY_BID: Final = -9_999_999_999  # LOBSTER's price of an empty bid level
EMPTY: Final = 2**62  # the price of an empty level in ticks here: +EMPTY for asks, -EMPTY for bids
