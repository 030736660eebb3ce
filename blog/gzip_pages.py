"""gzip for stored pages: compressed once, with each reader's form token put in at send time.

Decisions:
- Pages with a comment form carry a placeholder that `comment_guard.FormTokenFiller` replaces
  with a fresh token for every reader. It cannot be found in compressed bytes, so a page is
  compressed in pieces around it: each piece with a fresh compressor, flushed to a byte
  boundary, and each placeholder kept as a stored (uncompressed) deflate block of the token's
  length. Sending the page then only joins the pieces around the token and works out the gzip
  trailer's CRC-32, instead of compressing the page.
- The CRC-32 is not computed over the page again either: zlib's `crc32(piece, start)` is
  affine in `start` over GF(2), so for each piece after a slot we keep `crc32(piece, 0)` and
  what each of the 32 bits of `start` changes (128 bytes), and combine them with the CRC of
  the reader's token in a few dozen operations. The plain pieces are not kept.
- The header says mtime 0 and no file name, so every process makes the same bytes for the same
  page (a strong ETag is shared by all of them).
"""

import dataclasses
import struct
import zlib
from dataclasses import dataclass

LEVEL = 6  # zlib's default: within a few percent of level 9's size, at a fraction of its time
# Magic, deflate, no flags, mtime 0, no extra flags, "unknown" operating system (RFC 1952).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True)
class Packed:
    """A page in gzip, ready to send: `body` as is, or `filled` when it has token slots."""

    body: bytes  # the gzip member of a page without slots (else empty: see `chunks`)
    chunks: tuple[bytes, ...]  # with slots: the compressed pieces, a token's block between two
    first_crc: int  # crc32 of the plain piece before the first slot
    after_slots: tuple[tuple[int, bytes], ...]  # each later piece's `_crc_map`
    plain_length: int  # without the slots
    length: int = 0  # of what is sent

    @property
    def slots(self) -> int:
        return len(self.after_slots)

    @property
    def size(self) -> int:
        """Bytes kept, roughly: the compressed data and the CRC maps."""
        return len(self.body) + sum(map(len, self.chunks)) + 140 * self.slots

    def filled(self, token: bytes) -> bytes:
        """The page with `token` in every slot (the placeholder's length; see `pack`)."""
        if not self.after_slots:
            return self.body
        crc = self.first_crc
        for crc_map in self.after_slots:
            crc = _continue_crc(crc_map, zlib.crc32(token, crc))
        length = self.plain_length + self.slots * len(token)
        return _stored(token).join(self.chunks) + struct.pack("<II", crc, length & 0xFFFFFFFF)


def pack(body: bytes, placeholder: bytes | None = None) -> Packed:
    """Compress `body`, leaving every `placeholder` in it replaceable (see Decisions)."""
    pieces = body.split(placeholder) if placeholder else [body]
    chunks = []
    for number, piece in enumerate(pieces):
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        last = number == len(pieces) - 1
        chunks.append(compressor.compress(piece) + compressor.flush(
            zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
        ))  # fmt: skip
    chunks[0] = _HEADER + chunks[0]
    packed = Packed(
        body=b"",
        chunks=tuple(chunks),
        first_crc=zlib.crc32(pieces[0]),
        after_slots=tuple(_crc_map(piece) for piece in pieces[1:]),
        plain_length=sum(map(len, pieces)),
    )
    if packed.slots:
        return dataclasses.replace(packed, length=len(packed.filled(placeholder)))
    whole = chunks[0] + struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
    return dataclasses.replace(packed, body=whole, chunks=(), length=len(whole))


def _crc_map(piece: bytes) -> tuple[int, bytes]:
    """`crc32(piece, start)` for any start: its value at 0, and what each bit of start flips."""
    base = zlib.crc32(piece)
    flips = [zlib.crc32(piece, 1 << bit) ^ base for bit in range(32)]
    return base, struct.pack("<32I", *flips)


def _continue_crc(crc_map: tuple[int, bytes], start: int) -> int:
    """`zlib.crc32(piece, start)`, from the piece's `_crc_map`."""
    crc, flips = crc_map[0], struct.unpack("<32I", crc_map[1])
    for bit in range(32):
        if start >> bit & 1:
            crc ^= flips[bit]
    return crc


def _stored(data: bytes) -> bytes:
    """A non-final stored deflate block holding `data` (it starts on a byte boundary)."""
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data
