"""WAVE_FORMAT_EXTENSIBLE channel masks: read one from a WAV file and write it into another.

libsndfile (soundfile) writes WAVEX files with its own default speaker mask and offers no way to
read or set `dwChannelMask`, so these two functions patch the 4 bytes of the `fmt ` chunk directly.
"""

from __future__ import annotations

import struct
from pathlib import Path

EXTENSIBLE_TAG = 0xFFFE
MASK_OFFSET = 20  # within the fmt chunk's data: tag 2, channels 2, rate 4, bytes/s 4, align 2, bits 2, cbSize 2, valid bits 2


def _fmt_chunk_offset(handle) -> int | None:
    """Byte offset of the `fmt ` chunk's data in a RIFF/WAVE file, or None."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
        return None
    position = 12
    while True:
        handle.seek(position)
        chunk = handle.read(8)
        if len(chunk) < 8:
            return None
        identifier, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if identifier == b"fmt ":
            return position + 8 if size >= MASK_OFFSET + 4 else None
        position += 8 + size + (size & 1)


def _mask_position(handle) -> int | None:
    """The byte position of `dwChannelMask` in an open WAVE_FORMAT_EXTENSIBLE file, or None for any other file."""
    offset = _fmt_chunk_offset(handle)
    if offset is None:
        return None
    handle.seek(offset)
    if struct.unpack("<H", handle.read(2))[0] != EXTENSIBLE_TAG:
        return None
    return offset + MASK_OFFSET


def read_channel_mask(path: str | Path) -> int | None:
    """The `dwChannelMask` of a WAVE_FORMAT_EXTENSIBLE file, or None for any other file."""
    try:
        with open(path, "rb") as handle:
            position = _mask_position(handle)
            if position is None:
                return None
            handle.seek(position)
            return struct.unpack("<I", handle.read(4))[0]
    except OSError:
        return None


def write_channel_mask(path: str | Path, mask: int) -> bool:
    """Set the `dwChannelMask` of a WAVE_FORMAT_EXTENSIBLE file in place; False if it is not one."""
    with open(path, "r+b") as handle:
        position = _mask_position(handle)
        if position is None:
            return False
        handle.seek(position)
        handle.write(struct.pack("<I", int(mask)))
    return True
