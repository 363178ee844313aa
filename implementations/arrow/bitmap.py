"""Bitmaps as Arrow lays them out: bit i is bit (i mod 8) of byte i // 8, least significant
bit first. A validity bitmap holds 1 for a valid slot and 0 for a null; a bool array keeps its
values the same way. A bitmap is shared by slices, so bit positions are absolute: a slice
with offset k reads its slot i at bit k + i."""

from __future__ import annotations

from collections.abc import Iterable


def get_bit(bitmap: bytes, i: int) -> bool:
    return bitmap[i >> 3] >> (i & 7) & 1 == 1


def pack(bits: Iterable[bool]) -> bytes:
    out = bytearray()
    for i, bit in enumerate(bits):
        if i % 8 == 0:
            out.append(0)
        if bit:
            out[-1] |= 1 << (i % 8)
    return bytes(out)


def bits(bitmap: bytes | None, offset: int, length: int) -> list[bool]:
    """The bits offset..offset+length-1; an absent validity bitmap means all valid."""
    if bitmap is None:
        return [True] * length
    return [get_bit(bitmap, offset + i) for i in range(length)]


def copy_bits(bitmap: bytes | None, offset: int, length: int) -> bytes:
    """A new bitmap whose bit 0 is bit `offset` of `bitmap`: what a slice's bits become when
    they must start at bit 0 (in a concatenation, on the wire)."""
    return pack(bits(bitmap, offset, length))


def count_unset(bitmap: bytes | None, offset: int, length: int) -> int:
    return length - sum(bits(bitmap, offset, length))


def bytes_for(bit_count: int) -> int:
    return (bit_count + 7) // 8
