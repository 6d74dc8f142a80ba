"""ABCI framing: unsigned varint length prefixes, round trips, and hostile input."""

from __future__ import annotations

import io

import pytest

from node.cometbft.application import Application, proto_size_of_tx
from node.cometbft.proto import abci, types_pb2
from node.cometbft.wire import (
    FrameDecoder,
    MalformedVarintError,
    MessageTooLargeError,
    TruncatedFrameError,
    UndecodableMessageError,
    decode_uvarint,
    encode_frame,
    encode_uvarint,
    parse_request,
    parse_response,
    read_frame,
)

BOUNDARIES = [0, 1, 127, 128, 300, 16383, 16384, 2**32, 2**63, 2**64 - 1]


@pytest.mark.parametrize("value", BOUNDARIES)
def test_uvarint_round_trips_at_boundaries(value: int) -> None:
    encoded = encode_uvarint(value)
    assert decode_uvarint(encoded) == (value, len(encoded))
    assert decode_uvarint(b"\xff" + encoded, 1) == (value, len(encoded) + 1)


@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 70000])
def test_uvarint_matches_protobufs_own_length_prefix(length: int) -> None:
    # field 1 (string) of RequestEcho: tag 0x0a, then protobuf's uvarint length
    serialized = abci.RequestEcho(message="x" * length).SerializeToString()
    if length:
        assert serialized[1 : 1 + len(encode_uvarint(length))] == encode_uvarint(length)


def test_prefix_is_unsigned_not_zigzag() -> None:
    frame = encode_frame(abci.Request(flush=abci.RequestFlush()))
    body = abci.Request(flush=abci.RequestFlush()).SerializeToString()
    assert frame == bytes([len(body)]) + body  # zigzag would have written 2 * len
    assert frame[0] == 2


def test_request_and_response_round_trip_through_byte_by_byte_feed() -> None:
    messages = [
        abci.Request(echo=abci.RequestEcho(message="hi")),
        abci.Request(finalize_block=abci.RequestFinalizeBlock(txs=[b"a=1", b"b" * 300], height=7)),
        abci.Request(flush=abci.RequestFlush()),
    ]
    stream = b"".join(encode_frame(m) for m in messages)
    decoder = FrameDecoder()
    bodies: list[bytes] = []
    for i in range(len(stream)):
        bodies += decoder.feed(stream[i : i + 1])
    assert [parse_request(b) for b in bodies] == messages
    assert decoder.buffered == 0
    response = abci.Response(check_tx=abci.ResponseCheckTx(code=3, log="nope"))
    assert parse_response(read_frame(io.BytesIO(encode_frame(response))) or b"") == response


def test_feed_returns_complete_frames_and_keeps_the_partial_tail() -> None:
    one = encode_frame(abci.Request(echo=abci.RequestEcho(message="one")))
    two = encode_frame(abci.Request(echo=abci.RequestEcho(message="two")))
    decoder = FrameDecoder()
    assert len(decoder.feed(one + two[:3])) == 1
    assert decoder.buffered == 3
    assert [parse_request(b).echo.message for b in decoder.feed(two[3:])] == ["two"]


def test_zero_length_frame_is_an_empty_request() -> None:
    assert FrameDecoder().feed(b"\x00") == [b""]
    assert parse_request(b"").WhichOneof("value") is None


def test_eleven_byte_varint_is_malformed() -> None:
    with pytest.raises(MalformedVarintError, match="longer than 10"):
        FrameDecoder().feed(b"\x80" * 11)


def test_varint_above_64_bits_is_malformed() -> None:
    with pytest.raises(MalformedVarintError, match="above 2"):
        decode_uvarint(b"\xff" * 9 + b"\x02")


def test_oversize_length_is_refused_before_the_payload_arrives() -> None:
    decoder = FrameDecoder(max_message_size=1024)
    with pytest.raises(MessageTooLargeError) as caught:
        decoder.feed(encode_uvarint(1025))
    assert (caught.value.size, caught.value.limit) == (1025, 1024)
    with pytest.raises(MessageTooLargeError):
        FrameDecoder().feed(encode_uvarint(2**64 - 1))
    assert FrameDecoder(max_message_size=1024).feed(encode_uvarint(1024) + b"\x00" * 1024) == [b"\x00" * 1024]


def test_read_frame_eof_at_boundary_is_none_and_inside_is_truncation() -> None:
    frame = encode_frame(abci.Request(echo=abci.RequestEcho(message="abc")))
    assert read_frame(io.BytesIO(b"")) is None
    with pytest.raises(TruncatedFrameError):
        read_frame(io.BytesIO(frame[:-1]))
    with pytest.raises(TruncatedFrameError):
        read_frame(io.BytesIO(b"\x80"))
    with pytest.raises(MessageTooLargeError):
        read_frame(io.BytesIO(encode_uvarint(10)), max_message_size=9)


def test_garbage_body_is_undecodable() -> None:
    with pytest.raises(UndecodableMessageError):
        parse_request(b"\x0a\x05ab")  # field 1 announces 5 bytes, 2 follow


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 100_000])
def test_proto_size_of_tx_is_the_size_cometbft_counts(size: int) -> None:
    tx = b"\x01" * size
    assert proto_size_of_tx(tx) == len(types_pb2.Data(txs=[tx]).SerializeToString())


def test_default_prepare_proposal_keeps_the_prefix_that_fits() -> None:
    txs = [b"a" * 100, b"b" * 200, b"c" * 10]
    budget = proto_size_of_tx(txs[0]) + proto_size_of_tx(txs[1])
    kept = Application().prepare_proposal(abci.RequestPrepareProposal(txs=txs, max_tx_bytes=budget)).txs
    assert list(kept) == txs[:2]
    kept = Application().prepare_proposal(abci.RequestPrepareProposal(txs=txs, max_tx_bytes=budget - 1)).txs
    assert list(kept) == txs[:1]  # stops at the first misfit: never reorders a sender's txs
