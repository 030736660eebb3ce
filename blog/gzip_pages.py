"""gzip for stored pages: compressed once, with each reader's form token put in at send time.

Decisions:
- Pages with a comment form carry a placeholder that `comment_guard.FormTokenFiller` replaces
  with a fresh token for every reader. It cannot be found in compressed bytes, so a page is
  compressed in pieces around it: each piece with a fresh compressor, flushed to a byte
  boundary, and each placeholder kept as a stored (uncompressed) deflate block of the token's
  length. Sending the page then only joins the pieces around the token and computes the gzip
  trailer's CRC-32 over the plain bytes again (microseconds), instead of compressing the page.
- The header says mtime 0 and no file name, so every process makes the same bytes for the same
  page (a strong ETag is shared by all of them).
"""

import struct
import zlib
from dataclasses import dataclass

LEVEL = 6  # zlib's default: within a few percent of level 9's size, at a fraction of its time
# Magic, deflate, no flags, mtime 0, no extra flags, "unknown" operating system (RFC 1952).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True)
class Packed:
    """A page in gzip, ready to send: `body` as is, or `filled` when it has token slots."""

    body: bytes  # a valid gzip member, with the placeholder where the tokens go
    chunks: tuple[bytes, ...]  # the compressed pieces; a token's stored block between two
    pieces: tuple[bytes, ...]  # the plain pieces, for the trailer's CRC-32

    @property
    def slots(self) -> int:
        return len(self.pieces) - 1

    def filled(self, token: bytes) -> bytes:
        """The page with `token` in every slot (the placeholder's length; see `pack`)."""
        if not self.slots:
            return self.body
        crc = zlib.crc32(self.pieces[0])
        for piece in self.pieces[1:]:
            crc = zlib.crc32(piece, zlib.crc32(token, crc))
        length = sum(map(len, self.pieces)) + self.slots * len(token)
        return _stored(token).join(self.chunks) + struct.pack("<II", crc, length & 0xFFFFFFFF)


def pack(body: bytes, placeholder: bytes | None = None) -> Packed:
    """Compress `body`, leaving every `placeholder` in it replaceable (see Decisions)."""
    pieces = tuple(body.split(placeholder)) if placeholder else (body,)
    chunks = []
    for number, piece in enumerate(pieces):
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        last = number == len(pieces) - 1
        chunks.append(compressor.compress(piece) + compressor.flush(
            zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
        ))  # fmt: skip
    chunks[0] = _HEADER + chunks[0]
    packed = Packed(body=b"", chunks=tuple(chunks), pieces=pieces)
    whole = packed.filled(placeholder) if placeholder and packed.slots else None
    if whole is None:
        crc = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
        whole = chunks[0] + crc
    return Packed(body=whole, chunks=packed.chunks, pieces=pieces)


def _stored(data: bytes) -> bytes:
    """A non-final stored deflate block holding `data` (it starts on a byte boundary)."""
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data
