"""A price string to ticks with integer arithmetic: the common case of the compiled feed
decoders (gateways/marketdata/redis_entries.py, gateways/marketdata/fix_md_wire.py), compiled
with them (native-modules.txt).

Why: ``Instrument.to_ticks`` goes through ``Decimal`` (about 0.6 µs a price, compiled callers
included); a plain price string converts exactly the same with integers in about 0.2 µs.
Only plain strings take this path: ASCII digits, at most one point, a digit before it, at most
_SHORT_PRICE characters, a result on the grid under _TICKS_LIMIT ticks. ``Decimal``'s divmod is
exact up to 28 digits and refuses beyond, so inside these bounds both give the same ticks;
anything else the caller sends the ``Decimal`` way, which decides and words the error.
"""

from __future__ import annotations

from typing import Final

from core.domain import Instrument

_SHORT_PRICE: Final = 24
_TICKS_LIMIT: Final = 10**18


class TickGrid:
    """One instrument's tick size as an integer ``units * 10**exponent``."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        _sign, digits, exponent = instrument.tick_size.as_tuple()
        assert isinstance(exponent, int)  # a positive tick size is finite (Instrument checks)
        self.units = int("".join(str(d) for d in digits))
        self.exponent = exponent

    def plain_ticks(self, text: str) -> int:
        """``text`` in ticks when it is a plain price on the grid; 0 otherwise (the caller
        then goes the ``Decimal`` way)."""
        point = text.find(".")
        digits = text if point < 0 else text[:point] + text[point + 1:]
        if point == 0 or len(text) > _SHORT_PRICE or not digits.isdigit() \
                or not digits.isascii():
            return 0
        # text = number * 10**-decimals; ticks = text / (units * 10**exponent)
        number = int(digits)
        scale = self.exponent + (0 if point < 0 else len(text) - point - 1)
        if scale < 0:
            number *= 10**-scale
            divisor = self.units
        else:
            divisor = self.units * 10**scale
        if number % divisor == 0 and number // divisor < _TICKS_LIMIT:
            return number // divisor
        return 0
