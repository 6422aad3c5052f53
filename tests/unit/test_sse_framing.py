"""SSE framing: the upstream parser, byte by byte (how chunks, line ends and fields become events), and the
events we write."""

import pytest

from chatgate.upstream.event_stream import NotAnEventStream, sse_data
from chatgate.web import sse

FRAMINGS = [
    ("one event", [b'data: {"a":1}\n\n'], [b'{"a":1}']),
    ("a line split across chunks", [b'data: {"a"', b":1}\n", b"\n"], [b'{"a":1}']),
    ("CRLF line ends", [b"data: x\r\n\r\n"], [b"x"]),
    ("CR line ends", [b"data: x\r\rdata: y\r\r"], [b"x", b"y"]),
    ("a CRLF split by the chunk boundary", [b"data: a\r", b"\ndata: b\r\n\r\n"], [b"a\nb"]),
    ("data lines of one event joined with LF", [b"data: a\ndata: b\n\n"], [b"a\nb"]),
    ("comments and other fields skipped", [b": keep-alive\n\nevent: x\nid: 3\nretry: 10\ndata: y\n\n"], [b"y"]),
    ("no space after the colon", [b"data:x\n\n"], [b"x"]),
    ("only the first space is the separator", [b"data:  x\n\n"], [b" x"]),
    ("a data line without a colon is empty data", [b"data\n\n"], [b""]),
    ("blank lines alone make no event", [b"\n\n\n"], []),
    ("an unterminated last event is still delivered", [b"data: last"], [b"last"]),
    ("[DONE] is data like any other", [b"data: [DONE]\n\n"], [b"[DONE]"]),
    ("several events in one chunk", [b"data: 1\n\ndata: 2\n\ndata: 3\n\n"], [b"1", b"2", b"3"]),
    ("empty chunks change nothing", [b"", b"data: 1\n", b"", b"\n"], [b"1"]),
]


@pytest.mark.parametrize("chunks, expected", [case[1:] for case in FRAMINGS], ids=[case[0] for case in FRAMINGS])
def test_framing(chunks, expected):
    assert list(sse_data(chunks)) == expected


@pytest.mark.parametrize("chunks, expected", [case[1:] for case in FRAMINGS], ids=[case[0] for case in FRAMINGS])
def test_the_same_bytes_one_at_a_time_give_the_same_events(chunks, expected):
    whole = b"".join(chunks)
    assert list(sse_data(whole[i : i + 1] for i in range(len(whole)))) == expected


def test_an_event_is_yielded_as_soon_as_its_blank_line_arrives():
    events = sse_data(iter([b"data: first\n\n", b"data: sec"]))
    assert next(events) == b"first"  # before the next chunk is read


@pytest.mark.parametrize(
    "garbage", [b"<html>not an event stream</html>\n", b'{"id": "chatcmpl-1"}\n', b"data: ok\n\nHTTP/1.1 500\n"]
)
def test_anything_else_is_not_an_event_stream(garbage):
    with pytest.raises(NotAnEventStream):
        list(sse_data([garbage]))


def test_sse_event_is_one_data_line_and_a_blank_line():
    assert sse.event({"content": "Hi\nthere"}) == b'data: {"content":"Hi\\nthere"}\n\n'
    assert sse.event({"content": "é"}) == 'data: {"content":"é"}\n\n'.encode()
    assert sse.raw_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert sse.DONE == b"data: [DONE]\n\n"
