"""Comma-separated decimal integers, parsed a whole file at a time with numpy.

Why: one LOBSTER 10-level day is a 34 MB order-book file (40 integers a row, 148,000 rows) and
a 6 MB message file; read row by row (``csv`` and ``int``) that costs seconds, and the book
check's goal (docs/benchmarks.md) leaves about half a second for everything. ``np.loadtxt``
takes 0.4 s for the order-book file alone on the development machine, so this module does it in
about a third of that:

- the file is cut into chunks of whole lines (about 1 MB), so each step's temporaries stay in
  the cache and reuse the same memory instead of faulting fresh pages in for every operation;
- in a chunk, the field separators are found with one comparison, and the lines' field counts
  from where the newlines fall among them;
- every field is read as one unaligned 8-byte word ending at its last byte; the bytes before the
  field are replaced by ``'0'``, every byte is checked to be a digit, and three multiply, shift
  and mask steps (SWAR: all eight digits at once) give its value. Fields of 9 to 16 digits take
  a second word.

A field is *plain* when it is an optional ``'-'`` and 1 to 16 ASCII digits. Anything else (an
empty field, spaces, a ``'+'``, an exponent, a letter) is flagged, never guessed at: the caller
reports the line. One column may instead be a fixed-point decimal (``123.456``, e.g. LOBSTER's
seconds), read as an integer of ``10**-scale`` units, with at most ``scale`` decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHUNK_BYTES = 1 << 20
_PAD = b"\n" * 16  # a full 16-byte window before the first field, so no read starts before 0
_ZEROS = np.uint64(0x3030303030303030)  # eight ASCII '0'
_SEVENTY_SIXES = np.uint64(0x7676767676767676)
_TOP_BITS = np.uint64(0x8080808080808080)
# _SHIFTS[n]: the bits of a word ending at a field's end that lie before its last n characters.
_SHIFTS = np.array([0] + [8 * (8 - n) for n in range(1, 9)], dtype=np.uint64)
_TIMES_2561, _EIGHT, _PAIRS = np.uint64(10 * 256 + 1), np.uint64(8), \
    np.uint64(0x00FF00FF00FF00FF)
_TIMES_6553601, _SIXTEEN, _FOURS = np.uint64(100 * 65536 + 1), np.uint64(16), \
    np.uint64(0x0000FFFF0000FFFF)
_TIMES_10000_2_32, _THIRTY_TWO = np.uint64(10000 * 2**32 + 1), np.uint64(32)
_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class IntBlock:
    """Consecutive lines of a file as integers, from 0-based line ``first``."""

    first: int
    values: Ints  # (lines, columns)
    not_plain: Bools  # (lines,): some field of the line is not a plain number
    bad_shape: int | None  # 0-based index in the file of a line after the block without
    # exactly ``columns`` fields: the block is the file's last, and that line is not read


def line_text(data: bytes, index: int) -> str:
    """The text of the 0-based line ``index`` of ``data``, for error messages."""
    start = 0
    for _ in range(index):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    return data[start:end if end >= 0 else len(data)].decode("utf-8", "replace")


def read_int_blocks(data: bytes, columns: int, decimal_column: int | None = None,
                    scale: int = 0) -> Iterator[IntBlock]:
    """Parse ``data``, a chunk of whole lines at a time: lines of ``columns`` comma-separated
    fields, all plain integers except ``decimal_column``, a decimal scaled by ``10**scale``
    (``scale`` at most 16). Stops after the first line of another shape."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    line, pos = 0, 0
    while pos < len(data):
        end = data.index(b"\n", min(pos + CHUNK_BYTES, len(data)) - 1) + 1
        # The chunk with the bytes before it, so that every field's words start inside it.
        chunk = data[pos - len(_PAD):end] if pos >= len(_PAD) else _PAD[:len(_PAD) - pos] + \
            data[:end]
        raw = np.frombuffer(chunk, np.uint8)
        # words[i] holds chunk[i:i + 8], the least significant byte first.
        words = np.ndarray((len(chunk) - 7,), dtype="<u8", buffer=chunk, strides=(1,))
        seps, bad_shape = _separators(raw[len(_PAD):], columns)
        count = len(seps) // columns
        ends = seps + len(_PAD)
        starts = np.empty_like(ends)
        starts[:1] = len(_PAD)
        np.add(ends[:-1], 1, out=starts[1:])
        if count:
            values, plain = _parse_block(raw, words, starts.reshape(count, columns),
                                         ends.reshape(count, columns), decimal_column, scale,
                                         b"-" in chunk)
        else:  # the chunk's first line has the wrong shape
            values, plain = np.empty((0, columns), np.int64), np.empty(0, np.bool_)
        yield IntBlock(line, values, ~plain, None if bad_shape is None else line + bad_shape)
        if bad_shape is not None:
            return
        line, pos = line + count, end


def _separators(chunk: npt.NDArray[np.uint8], columns: int) -> tuple[Ints, int | None]:
    """Offsets of the field ends in ``chunk`` (whole lines), and the index of its first line
    without exactly ``columns`` fields (None if all have them); only the lines before that one
    are returned. Any byte up to ``','`` ends a field: a stray one splits a field and makes its
    line the wrong shape, which is how a line holding one gets reported."""
    seps = np.flatnonzero(chunk <= 44)  # b"," is 44, b"\n" 10
    newlines = np.flatnonzero(chunk[seps] == 10)
    if len(seps) == columns * len(newlines) and \
            (newlines == np.arange(columns - 1, len(seps), columns)).all():
        return seps, None
    per_line = np.diff(newlines, prepend=-1)
    bad = int(np.flatnonzero(per_line != columns)[0])
    return seps[:bad * columns], bad


def _parse_block(raw: npt.NDArray[np.uint8], words: npt.NDArray[np.uint64], starts: Ints,
                 ends: Ints, decimal_column: int | None, scale: int,
                 signs: bool) -> tuple[Ints, Bools]:
    """Values of the fields ``raw[starts:ends]`` (a lines x columns block) and, per line,
    whether every field is plain. ``signs``: whether any ``'-'`` may be among them."""
    values, plain = _integers(raw, words, starts.ravel(), ends.ravel(), signs)
    values, plain = values.reshape(starts.shape), plain.reshape(starts.shape)
    if decimal_column is not None:
        column, column_ok = _decimals(raw, words, starts[:, decimal_column],
                                      ends[:, decimal_column], scale)
        values[:, decimal_column] = column
        plain[:, decimal_column] = column_ok
    if plain.all():  # the usual case, and a flat test is much cheaper than one per line
        return values, np.ones(len(plain), np.bool_)
    return values, np.asarray(plain.all(axis=1))


def _integers(raw: npt.NDArray[np.uint8], words: npt.NDArray[np.uint64], starts: Ints,
              ends: Ints, signs: bool) -> tuple[Ints, Bools]:
    """Values of the fields ``raw[starts:ends]`` and whether each is plain."""
    if not signs:
        return _digits(words, ends, ends - starts)
    negative = np.take(raw, starts) == 45  # b"-"
    values, plain = _digits(words, ends, ends - starts - negative)
    np.negative(values, out=values, where=negative)
    return values, plain


def _decimals(raw: npt.NDArray[np.uint8], words: npt.NDArray[np.uint64], starts: Ints,
              ends: Ints, scale: int) -> tuple[Ints, Bools]:
    """Fixed-point decimals ``[-]digits[.digits]`` as integers of ``10**-scale`` units."""
    negative = np.take(raw, starts) == 45
    dots = ends.copy()  # where a field has no '.', its fraction is empty
    found = np.flatnonzero(raw == 46)  # every b"." of the chunk, and the field it may be in
    field = np.minimum(np.searchsorted(ends, found), len(ends) - 1)
    inside = (np.take(starts, field) <= found) & (found < np.take(ends, field))
    # With two dots in a field the last is taken: the first then makes the whole part not plain.
    dots[field[inside]] = found[inside]
    whole, whole_ok = _digits(words, dots, dots - starts - negative)
    fraction_digits = np.maximum(ends - dots - 1, 0)
    fraction, fraction_ok = _digits(words, ends, fraction_digits)
    empty = fraction_digits == 0
    fraction[empty] = 0
    plain = whole_ok & (fraction_ok | empty) & (fraction_digits <= scale)
    values = whole * _POW10[scale] + fraction * _POW10[scale - np.minimum(fraction_digits, scale)]
    np.negative(values, out=values, where=negative)
    return values, plain


def _digits(words: npt.NDArray[np.uint64], ends: Ints, count: Ints) -> tuple[Ints, Bools]:
    """The values of the ``count`` characters before each of ``ends``, and whether they are 1
    to 16 ASCII digits."""
    plain = (count - 1).view(np.uint64) < np.uint64(16)
    values, ok = _word_value(words[ends - 8], count)
    plain &= ok
    long = np.flatnonzero(count > 8)
    if long.size:
        high, high_ok = _word_value(words[ends[long] - 16], count[long] - 8)
        values[long] += high * np.uint64(10**8)
        plain[long] &= high_ok
    return values.view(np.int64), plain


def _word_value(word: npt.NDArray[np.uint64], count: Ints) -> tuple[npt.NDArray[np.uint64],
                                                                    Bools]:
    """SWAR: the value of each word's last ``count`` characters (all eight above 8; the
    caller rejects counts below 1), and whether they are all digits. XOR with '0' maps exactly
    the digits to 0-9 (no borrow, unlike a subtraction); the bytes before the field are then
    shifted out."""
    word ^= _ZEROS
    shift = np.take(_SHIFTS, count, mode="clip")
    word >>= shift
    word <<= shift
    # A byte is 0-9 when adding 0x76 leaves its top bit clear (and it was clear before).
    ok = ((word | (word + _SEVENTY_SIXES)) & _TOP_BITS) == 0
    # Pairs, then fours, then all eight: the first character is the least significant byte.
    word *= _TIMES_2561
    word >>= _EIGHT
    word &= _PAIRS
    word *= _TIMES_6553601
    word >>= _SIXTEEN
    word &= _FOURS
    word *= _TIMES_10000_2_32
    word >>= _THIRTY_TWO
    return word, ok
