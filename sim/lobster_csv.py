"""LOBSTER's CSV text to int64 columns, with pyarrow's CSV reader (multi-threaded C++).

A LOBSTER file is lines of comma-separated integers without a header; in the message file the
first field is a decimal (seconds after midnight). pyarrow parses the whole file; this module
handles what pyarrow does not decide for us:

- vendor quirks, accepted and counted (each becomes one :class:`Quirk`, reported once by the
  caller): a UTF-8 byte-order mark, CRLF line ends, spaces or tabs at the end of a line, no
  newline after the last line, and times with more than 9 decimals (rounded to the nanosecond;
  LOBSTER's own files carry artefacts such as ``43002.632812672004``);
- everything else that is not a plain number (digits and a leading ``'-'``; for the time,
  digits and one ``'.'``), and every line with another number of fields, is a defect:
  :class:`CsvDefect` with the 1-based line of the first.

What the numbers mean (units, ranges, order) is checked by :mod:`sim.lobster_columns`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_BOM = b"\xef\xbb\xbf"
_NOT_IN_A_PLAIN_DECIMAL = (b"+", b"e", b"E", b"n", b"N", b"i", b"I")
_MORE_THAN_9_DECIMALS = re.compile(rb"\.[0-9]{10}")
_TRAILING_BLANKS = re.compile(rb"[ \t]+\n")
_INTEGER = re.compile(rb"-?[0-9]+")
_PARSE = pacsv.ParseOptions(delimiter=",", quote_char=False, escape_char=False,
                            newlines_in_values=False, ignore_empty_lines=False)


class CsvDefect(ValueError):
    """A line that is not a LOBSTER row; ``line`` is 1-based."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


@dataclass(frozen=True, slots=True)
class Quirk:
    """A vendor quirk seen ``count`` times, first on 1-based line ``first_line``; ``what``
    names one, ``{s}`` where the plural adds an s."""

    what: str
    count: int
    first_line: int

    def note(self, name: str) -> str:
        what = self.what.format(s="" if self.count == 1 else "s")
        return f"{name}: note: {self.count:,} {what} (first at line {self.first_line})"


@dataclass(frozen=True, slots=True)
class CsvColumns:
    """A file's fields, one int64 array per column; with a time column, column 0 is its
    nanoseconds after midnight."""

    columns: tuple[Ints, ...]
    quirks: tuple[Quirk, ...]


def read_columns(data: bytes, fields: int, time_first: bool = False) -> CsvColumns:
    """Parse ``data``: lines of ``fields`` integers (the first a decimal number of seconds when
    ``time_first``). :class:`CsvDefect` at the first line that is not one."""
    data, quirks = _normalised(data)
    table = _table(data, fields, time_first)
    columns = [table.column(i) for i in range(fields)]
    if time_first and len(table):
        nanos, rounded = _times(columns[0], data)
        if rounded is not None:
            quirks.append(rounded)
        values = [nanos] + [_column(column, np.int64) for column in columns[1:]]
    else:
        values = [_column(column, np.int64) for column in columns]
    return CsvColumns(tuple(values), tuple(quirks))


def read_blocks(data: bytes, fields: int) -> tuple[int, Iterator[Ints], tuple[Quirk, ...]]:
    """Parse ``data``, lines of ``fields`` integers: the number of lines, then the lines as
    consecutive ``(fields, lines)`` blocks of pyarrow's (about a megabyte of text each: what a
    caller does with one stays in the cache), and the quirks. :class:`CsvDefect` at the first
    bad line, before any block."""
    data, quirks = _normalised(data)
    table = _table(data, fields, False)

    def blocks() -> Iterator[Ints]:
        for batch in table.to_batches():
            yield np.stack([_values(batch.column(k), np.int64) for k in range(fields)])

    return len(table), blocks(), tuple(quirks)


def _table(data: bytes, fields: int, time_first: bool) -> pa.Table:
    names = [f"f{i}" for i in range(fields)]
    if not data:
        return pa.table({name: pa.array([], pa.int64()) for name in names})
    types = {name: pa.int64() for name in names}
    if time_first:
        types[names[0]] = pa.float64()
        # pyarrow's float64 also reads '+', exponents, 'nan' and 'inf', which no LOBSTER time
        # has; the integer fields refuse them, so finding one of their letters anywhere in the
        # file means a time that is not a plain decimal. Seven scans for one byte each.
        if any(letter in data for letter in _NOT_IN_A_PLAIN_DECIMAL):
            raise _first_defect(data, fields, time_first)
    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[],
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _first_defect(data, fields, time_first) from exc


def line_text(data: bytes, index: int) -> str:
    """The text of the 0-based line ``index`` of ``data``, for error messages."""
    start = 0
    for _ in range(index):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    return data[start:end if end >= 0 else len(data)].decode("utf-8", "replace").rstrip("\r")


def _values(chunk: pa.Array, dtype: type[np.int64] | type[np.float64]) -> npt.NDArray[Any]:
    """A block's values, a view of its buffer (no nulls: the reader knows none). Not
    ``to_numpy``: that imports pandas when it is installed, half a second on a process's first
    read."""
    return np.frombuffer(chunk.buffers()[1], dtype, len(chunk), chunk.offset * 8)


def _column(column: pa.ChunkedArray, dtype: type[np.int64] | type[np.float64]) \
        -> npt.NDArray[Any]:
    if column.num_chunks == 1:
        return _values(column.chunk(0), dtype)
    return np.concatenate([_values(chunk, dtype) for chunk in column.chunks]) \
        if column.num_chunks else np.empty(0, dtype)


def _normalised(data: bytes) -> tuple[bytes, list[Quirk]]:
    """``data`` with the tolerated quirks undone (lines end in one ``\\n``), and the quirks.
    pyarrow would read most of them itself, but would not count them, and it takes a lone
    carriage return for a line end and spaces around a number for nothing: a clean file costs
    four scans for single bytes here, a quirky one a rewrite."""
    quirks = []
    if data.startswith(_BOM):
        data = data[len(_BOM):]
        quirks.append(Quirk("UTF-8 byte-order mark at the start of the file ignored", 1, 1))
    if data and not data.endswith(b"\n"):
        data += b"\n"
        quirks.append(Quirk("last line without a final newline accepted", 1,
                            data.count(b"\n")))
    if b"\r" in data:
        crlf = data.count(b"\r\n")
        if crlf:
            quirks.append(Quirk("CRLF line end{s} read as newline{s}", crlf,
                                data.count(b"\n", 0, data.index(b"\r\n")) + 1))
            data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:  # a carriage return inside a line: a defect, not a line end
            raise CsvDefect(data.count(b"\n", 0, data.index(b"\r")) + 1,
                            "a carriage return inside the line")
    if b" " in data or b"\t" in data:
        first = _TRAILING_BLANKS.search(data)
        if first is not None:
            data, count = _TRAILING_BLANKS.subn(b"\n", data)
            quirks.append(Quirk("line{s} with spaces at the end ignored", count,
                                data.count(b"\n", 0, first.start()) + 1))
        blank = min((at for at in (data.find(b" "), data.find(b"\t")) if at >= 0), default=-1)
        if blank >= 0:
            line = data.count(b"\n", 0, blank)
            raise CsvDefect(line + 1, f"a space inside the line in {line_text(data, line)!r}")
    return data, quirks


def _times(column: pa.ChunkedArray, data: bytes) -> tuple[Ints, Quirk | None]:
    """Seconds to nanoseconds after midnight. pyarrow's decimal-to-double conversion is
    correctly rounded, and below 86,400 s a double holds a time to a few thousandths of a
    nanosecond: rounding it to the nanosecond gives the exact value of up to 9 decimals, and
    the nearest nanosecond of more. Only the time has a '.': a run of ten digits after one is
    a time with more than 9 decimals."""
    # Clipped first, so that an absurd time stays an int64 (outside the day, as it was).
    seconds = np.clip(_column(column, np.float64), -1.0, 1e6)
    nanos = np.rint(seconds * 1e9).astype(np.int64)
    first = _MORE_THAN_9_DECIMALS.search(data)
    if first is None:
        return nanos, None
    count = sum(1 for _ in _MORE_THAN_9_DECIMALS.finditer(data, first.start()))
    return nanos, Quirk("timestamp{s} with more than 9 decimals rounded to the nanosecond",
                        count, data.count(b"\n", 0, first.start()) + 1)


def _first_defect(data: bytes, fields: int, time_first: bool) -> CsvDefect:
    """The first line that is not ``fields`` plain numbers (pyarrow says only that one is not;
    this finds which, on the error path only)."""
    lines = data.split(b"\n")
    for index in range(len(lines) - 1):  # the last element follows the final newline
        why = _line_problem(lines[index], fields, time_first)
        if why is not None:
            return CsvDefect(index + 1, f"{why} in {lines[index].decode('utf-8', 'replace')!r}")
    # pyarrow refused something the line checks accept (not expected): still one clear line
    return CsvDefect(1, "unreadable as comma-separated numbers")


def _line_problem(line: bytes, fields: int, time_first: bool) -> str | None:
    values = line.split(b",")
    if len(values) != fields:
        return f"expected {fields} fields, got {len(values) if line else 0}"
    for number, value in enumerate(values):
        if number == 0 and time_first:
            digits = value.replace(b".", b"", 1)
            if not digits.isdigit() or len(digits) > 18:
                return "the time is not a number of seconds (digits, a '.', decimals)"
        elif not _INTEGER.fullmatch(value) or len(value.lstrip(b"-")) > 18:
            return f"field {number + 1} is not a whole number"
    return None
