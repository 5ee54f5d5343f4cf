"""Entry canonical encoding: determinism, strict decoding, the fast layout scan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baomi.crypto.digest import hash_function
from baomi.ledger.entry import (
    GENESIS_PREV_HASH,
    Entry,
    EntryTemplate,
    decode_entry,
    encode_entry,
    entry_leaf_hash,
    format_time,
    scan_entry,
)
from baomi.ledger.errors import EntryFormatError
from baomi.ledger.hashing import sha256

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def make(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "seq": 0,
        "time": T0,
        "actor": "user:7",
        "action": "document.read",
        "object_type": "document",
        "object_id": "doc-1",
        "client_id": "client-42",
        "purpose": "月度记账",
        "decision": "allowed",
        "reason": "assigned_staff",
        "request": {"ip": "10.0.0.1", "user_agent": "UA", "request_id": "r-1"},
        "prev_hash": GENESIS_PREV_HASH,
    }
    fields.update(overrides)
    return Entry(**fields)  # type: ignore[arg-type]  # test helper passes checked fields


def test_encoding_is_the_documented_canonical_json() -> None:
    assert encode_entry(make()) == (
        '{"action":"document.read","actor":"user:7","client_id":"client-42",'
        '"decision":"allowed","object_id":"doc-1","object_type":"document",'
        '"prev_hash":"' + "00" * 32 + '","purpose":"月度记账","reason":"assigned_staff",'
        '"request":{"ip":"10.0.0.1","request_id":"r-1","user_agent":"UA"},"seq":0,'
        '"time":"2026-03-04T05:06:07.890123Z","v":1}'
    ).encode("utf-8")


def test_leaf_hash_is_rfc9162_leaf_of_the_encoding() -> None:
    entry = make()
    assert entry_leaf_hash(entry) == sha256(b"\x00" + encode_entry(entry))
    sm3 = hash_function("sm3")
    assert entry_leaf_hash(entry, sm3) == sm3(b"\x00" + encode_entry(entry))
    assert entry_leaf_hash(encode_entry(entry)) == entry_leaf_hash(entry)


def test_time_is_normalised_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    local = make(time=T0.astimezone(shanghai))
    assert encode_entry(local) == encode_entry(make())


@pytest.mark.parametrize(
    "overrides",
    [
        {"time": datetime(2026, 1, 1)},  # naive
        {"seq": -1},
        {"seq": True},
        {"decision": "maybe"},
        {"prev_hash": b"\x00" * 31},
        {"actor": 5},
        {"request": {"ip": 1}},
        {"purpose": "\ud800"},  # lone surrogate cannot be UTF-8
    ],
)
def test_invalid_entries_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(EntryFormatError):
        make(**overrides)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.replace(b'"seq":0', b'"seq": 0'),
        lambda b: b.replace(b'"v":1', b'"v":2'),
        lambda b: b.replace(b"00" * 32, b"00" * 31 + b"0A"),
        lambda b: b.replace(b"890123Z", b"890123+00:00"),
        lambda b: b.replace("月度记账".encode(), b"\\u6708\\u5ea6\\u8bb0\\u8d26"),
        lambda b: b[:-1] + b',"v":1}',
        lambda b: b[:-1] + b',"extra":1}',
        lambda b: b"\xff" + b,
        lambda b: b"[]",
    ],
)
def test_decoding_refuses_non_canonical_bytes(mutate: Callable[[bytes], bytes]) -> None:
    data = encode_entry(make())
    bad = mutate(data)
    with pytest.raises(EntryFormatError):
        decode_entry(bad)


texts = st.text(max_size=40)
entries = st.builds(
    Entry,
    seq=st.integers(0, 2**63),
    time=st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
    ),
    actor=texts,
    action=texts,
    object_type=texts,
    object_id=texts,
    client_id=st.none() | texts,
    purpose=texts,
    decision=st.sampled_from(["allowed", "refused"]),
    reason=texts,
    request=st.dictionaries(texts, texts, max_size=4),
    prev_hash=st.binary(min_size=32, max_size=32),
)


@settings(max_examples=300, deadline=None)
@given(entry=entries)
def test_round_trip_and_layout_scan_for_any_entry(entry: Entry) -> None:
    # Text of any kind (quotes, backslashes, control characters, CJK, astral planes)
    # must round-trip, and the fast layout scan must agree with the full decoder.
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert encode_entry(decode_entry(data)) == data
    assert scan_entry(data) == (entry.seq, entry.prev_hash)


def test_scan_rejects_other_layouts() -> None:
    data = encode_entry(make())
    for bad in (data.replace(b'"seq":0', b'"seq":00'), data + b" ", data.replace(b":", b": ")):
        with pytest.raises(EntryFormatError):
            scan_entry(bad)


def _template_fields(entry: Entry) -> dict[str, object]:
    return {
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "client_id": entry.client_id,
        "purpose": entry.purpose,
        "decision": entry.decision,
        "reason": entry.reason,
        "request": entry.request,
    }


@settings(max_examples=300, deadline=None)
@given(entry=entries)
def test_template_renders_exactly_the_canonical_encoding(entry: Entry) -> None:
    # Request keys such as "prev_hash" or "seq", and quotes, backslashes and commas in
    # any field, must not move the open positions.
    template = EntryTemplate.build(**_template_fields(entry))  # type: ignore[arg-type]
    assert template.render(entry.seq, format_time(entry.time), entry.prev_hash) == encode_entry(
        entry
    )


def test_template_with_field_names_inside_values() -> None:
    entry = make(
        object_type='x,"prev_hash":"',
        purpose='"seq":1}',
        request={"a": "", "prev_hash": "1", "seq": '0}","v":1}', "time": "now"},
        client_id=None,
    )
    template = EntryTemplate.build(**_template_fields(entry))  # type: ignore[arg-type]
    data = template.render(7, format_time(T0), bytes(range(32)))
    assert data == encode_entry(
        make(
            seq=7,
            prev_hash=bytes(range(32)),
            object_type='x,"prev_hash":"',
            purpose='"seq":1}',
            request={"a": "", "prev_hash": "1", "seq": '0}","v":1}', "time": "now"},
            client_id=None,
        )
    )
    assert decode_entry(data).seq == 7


@pytest.mark.parametrize(
    "overrides",
    [
        {"decision": "maybe"},
        {"actor": 5},
        {"client_id": 3},
        {"request": {"ip": 1}},
        {"request": {1: "x"}},
        {"request": ["ip"]},
        {"purpose": "\ud800"},
        {"request": {"ip": "\udfff"}},
    ],
)
def test_template_refuses_what_an_entry_refuses(overrides: dict[str, object]) -> None:
    fields = _template_fields(make())
    fields.update(overrides)
    with pytest.raises(EntryFormatError):
        EntryTemplate.build(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seq", "time_text", "prev"),
    [
        (-1, "2026-03-04T05:06:07.890123Z", bytes(32)),
        (True, "2026-03-04T05:06:07.890123Z", bytes(32)),
        (0, "2026-03-04T05:06:07Z", bytes(32)),
        (0, "2026-03-04 05:06:07.890123Z", bytes(32)),
        (0, "２026-03-04T05:06:07.890123Z", bytes(32)),
        (0, "2026-03-04T05:06:07.890123Z", bytes(31)),
    ],
)
def test_template_render_refuses_a_bad_position(seq: int, time_text: str, prev: bytes) -> None:
    template = EntryTemplate.build(**_template_fields(make()))  # type: ignore[arg-type]
    with pytest.raises(EntryFormatError):
        template.render(seq, time_text, prev)
