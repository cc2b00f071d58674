"""The three postures, ordered: a higher one only ever tightens what a lower one allows."""

from __future__ import annotations

import enum


class Posture(enum.IntEnum):
    NORMAL = 0
    ELEVATED = 1
    STRESSED = 2

    @property
    def label(self) -> str:
        """The ``posture`` label value of the metrics: the name in lower case."""
        return self.name.lower()
