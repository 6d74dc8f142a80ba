"""ABCI socket framing: an unsigned-varint length, then one protobuf Request or Response.

Why our own: since v0.37 CometBFT prefixes each message with its length as a protobuf uvarint
(`protoio.NewDelimitedWriter`); the old Tendermint framing used a signed zigzag varint, and the
PyPI ABCI packages still speak that one. Decoding is incremental (`FrameDecoder.feed`) so the
server can answer every request already received before blocking on the socket again, and it is
hostile-input safe: an oversize length is refused before any of the payload is buffered.
"""

from __future__ import annotations

from typing import BinaryIO

from google.protobuf.message import DecodeError, Message

from node.cometbft.proto import abci

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_VARINT_LEN",
    "FrameDecoder",
    "MalformedVarintError",
    "MessageTooLargeError",
    "TruncatedFrameError",
    "UndecodableMessageError",
    "WireError",
    "decode_uvarint",
    "encode_frame",
    "encode_uvarint",
    "parse_request",
    "parse_response",
    "read_frame",
]

DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024  # above CometBFT's 100 MB block cap plus framing
MAX_VARINT_LEN = 10  # a uint64 needs at most ten 7-bit groups


class WireError(Exception):
    """Root of framing failures; the connection that produced one cannot be trusted any further."""


class MalformedVarintError(WireError):
    """A length prefix longer than ten bytes or above 2**64 - 1 (Go's binary.ReadUvarint rules)."""


class MessageTooLargeError(WireError):
    """A length prefix announcing more than the reader's limit; carries both numbers."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class TruncatedFrameError(WireError):
    """The stream ended inside a length prefix or a message body."""


class UndecodableMessageError(WireError):
    """A complete frame whose bytes are not a valid protobuf Request/Response."""


def encode_uvarint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer below 2**64."""
    if not 0 <= value < 1 << 64:
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """Decode a uvarint at `pos`: (value, position after it), or None if `buf` ends first.

    Non-minimal encodings are accepted, as Go's decoder accepts them.
    """
    value = 0
    for i in range(MAX_VARINT_LEN):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        if i == MAX_VARINT_LEN - 1 and byte > 1:
            # A tenth byte may only carry bit 63; anything more is an 11+ byte varint or > 64 bits.
            raise MalformedVarintError(f"uvarint longer than {MAX_VARINT_LEN} bytes or above 2**64 - 1")
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError("unreachable: the tenth byte either ends the varint or raises")


def encode_frame(message: Message) -> bytes:
    """One message as it goes on the wire: uvarint length, then the serialized bytes."""
    body: bytes = message.SerializeToString()
    return encode_uvarint(len(body)) + body


class FrameDecoder:
    """Splits a byte stream into message bodies; feed it whatever the socket returned."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame (non-zero at EOF means truncation)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Append `data` and return every frame body now complete, in stream order."""
        self._buf += data
        frames: list[bytes] = []
        pos = 0
        while True:
            head = decode_uvarint(self._buf, pos)
            if head is None:
                break
            size, start = head
            if size > self.max_message_size:
                raise MessageTooLargeError(size, self.max_message_size)
            if start + size > len(self._buf):
                break
            frames.append(bytes(self._buf[start : start + size]))
            pos = start + size
        del self._buf[:pos]
        return frames


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise TruncatedFrameError(f"stream ended after {len(data or b'')} of {size} bytes")
    return data


def read_frame(stream: BinaryIO, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes | None:
    """Blocking read of one frame body from a buffered binary stream; None on EOF at a boundary."""
    prefix = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if prefix:
                raise TruncatedFrameError("stream ended inside a length prefix")
            return None
        prefix += byte
        head = decode_uvarint(prefix)
        if head is not None:
            break
    size = head[0]
    if size > max_message_size:
        raise MessageTooLargeError(size, max_message_size)
    return _read_exact(stream, size)


def parse_request(body: bytes) -> abci.Request:
    """A frame body as a Request; UndecodableMessageError if protobuf rejects it."""
    request = abci.Request()
    try:
        request.ParseFromString(body)
    except DecodeError as e:
        raise UndecodableMessageError(f"not an ABCI Request ({len(body)} bytes): {e}") from e
    return request


def parse_response(body: bytes) -> abci.Response:
    """A frame body as a Response; UndecodableMessageError if protobuf rejects it."""
    response = abci.Response()
    try:
        response.ParseFromString(body)
    except DecodeError as e:
        raise UndecodableMessageError(f"not an ABCI Response ({len(body)} bytes): {e}") from e
    return response
