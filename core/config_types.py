"""Field types for the strict configuration models: values a YAML file spells as text.

Every configuration section and API body is validated with strict types (a quantity must be a
number, never ``true`` or ``"10"``); decimals and paths are the exception, since YAML and JSON
write them as text: ``"0.01"`` or ``0.01`` for a tick size, a string for a path. A boolean is
still refused for a decimal.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field

TextDecimal = Annotated[Decimal, Field(strict=False)]
TextPath = Annotated[Path, Field(strict=False)]


def tuple_of_list(value: object) -> object:
    """A list as the tuple a fixed-length field takes (YAML writes tuples as lists)."""
    return tuple(value) if isinstance(value, list) else value


# A [low, high] range as YAML writes it (a list), each end still a strict number.
NumberRange = Annotated[tuple[float, float], BeforeValidator(tuple_of_list)]
