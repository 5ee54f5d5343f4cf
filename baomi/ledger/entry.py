"""Ledger entries and their canonical byte encoding.

An entry's leaf hash is `H(0x00 || encode_entry(entry))`. Entries are hash-linked:
`prev_hash` is the leaf hash of the entry before (32 zero bytes for seq 0), and the same
leaf hashes are the leaves of the Merkle tree, so `seq` is also the leaf index.

The encoding is JSON with sorted keys, no whitespace, non-ASCII kept as UTF-8
(`ensure_ascii=False`), a format version `"v": 1`, `prev_hash` as lowercase hex and
`time` as UTC ISO-8601 with exactly six fractional digits and a `Z`. Because it is
canonical, an independent verifier can hash stored bytes as they are and still decode
them with any JSON parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any, Final, Literal, get_args

from baomi.ledger.errors import EntryFormatError
from baomi.ledger.hashing import HASH_SIZE, LEAF_PREFIX, HashFn, sha256

Decision = Literal["allowed", "refused"]
DECISIONS: Final[tuple[str, ...]] = get_args(Decision)
ENTRY_FORMAT_VERSION: Final = 1
GENESIS_PREV_HASH: Final = bytes(HASH_SIZE)

_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_KEYS = frozenset(
    {
        "action",
        "actor",
        "client_id",
        "decision",
        "object_id",
        "object_type",
        "prev_hash",
        "purpose",
        "reason",
        "request",
        "seq",
        "time",
        "v",
    }
)
_STR_FIELDS = ("action", "actor", "object_id", "object_type", "purpose", "reason")


def format_time(value: datetime) -> str:
    """UTC ISO-8601 with microseconds and `Z`, e.g. 2026-01-02T03:04:05.000001Z.

    Raises `EntryFormatError` for a naive datetime (its instant would be ambiguous).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise EntryFormatError("entry time must be timezone-aware")
    t = value if value.tzinfo is UTC else value.astimezone(UTC)
    return t.isoformat(timespec="microseconds")[:-6] + "Z"  # without "+00:00"


def parse_time(text: str) -> datetime:
    """Inverse of `format_time`; raises `EntryFormatError` unless exactly that format."""
    if not _TIME_RE.fullmatch(text):
        raise EntryFormatError(f"time {text!r} is not UTC ISO-8601 with microseconds")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise EntryFormatError(f"time {text!r} is not a valid instant") from exc


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise EntryFormatError(f"{name} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EntryFormatError(f"{name} is not encodable as UTF-8") from exc


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit ledger record: who did what to which object, for what purpose, decided how.

    `request` holds request context as strings (conventionally `ip`, `user_agent`,
    `request_id`); it is copied on construction so the entry cannot change afterwards,
    and `time` (which must be timezone-aware) is converted to UTC.
    Construction validates every field and raises `EntryFormatError`.
    """

    seq: int
    time: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    client_id: str | None
    purpose: str
    decision: Decision
    reason: str
    request: Mapping[str, str] = field(hash=False)
    prev_hash: bytes

    def __post_init__(self) -> None:
        if type(self.seq) is not int or self.seq < 0:
            raise EntryFormatError("seq must be a non-negative int")
        format_time(self.time)
        # Hold the instant in UTC, as encoded: equality of entries then means equality of
        # what is committed (datetimes in a DST fold never compare equal across zones).
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        for name in _STR_FIELDS:
            _check_text(name, getattr(self, name))
        if self.client_id is not None:
            _check_text("client_id", self.client_id)
        if self.decision not in DECISIONS:
            raise EntryFormatError(f"decision must be one of {DECISIONS}")
        if not isinstance(self.request, Mapping):
            raise EntryFormatError("request must be a mapping of strings")
        for key, value in self.request.items():
            _check_text("request key", key)
            _check_text(f"request[{key!r}]", value)
        object.__setattr__(self, "request", dict(self.request))
        if not isinstance(self.prev_hash, bytes) or len(self.prev_hash) != HASH_SIZE:
            raise EntryFormatError("prev_hash must be 32 bytes")


def entry_to_json_obj(entry: Entry) -> dict[str, Any]:
    """The JSON object encoded by `encode_entry` (before serialisation)."""
    return {
        "action": entry.action,
        "actor": entry.actor,
        "client_id": entry.client_id,
        "decision": entry.decision,
        "object_id": entry.object_id,
        "object_type": entry.object_type,
        "prev_hash": entry.prev_hash.hex(),
        "purpose": entry.purpose,
        "reason": entry.reason,
        "request": dict(entry.request),
        "seq": entry.seq,
        "time": format_time(entry.time),
        "v": ENTRY_FORMAT_VERSION,
    }


def encode_entry(entry: Entry) -> bytes:
    """The canonical bytes of `entry` (deterministic: equal entries give equal bytes)."""
    return json.dumps(
        entry_to_json_obj(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise EntryFormatError("duplicate key in entry")
    return obj


def decode_entry(data: bytes) -> Entry:
    """Parse canonical entry bytes back into an `Entry`.

    Strict: raises `EntryFormatError` unless `data` is exactly `encode_entry` of the
    result (so no alternative spelling of an entry can carry the same meaning).
    """
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, EntryFormatError):
            raise
        raise EntryFormatError(f"entry is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict) or set(obj) != _KEYS:
        raise EntryFormatError("entry does not have exactly the version-1 keys")
    if obj["v"] != ENTRY_FORMAT_VERSION or type(obj["v"]) is not int:
        raise EntryFormatError("unsupported entry format version")
    prev = obj["prev_hash"]
    if not isinstance(prev, str) or not re.fullmatch(r"[0-9a-f]{64}", prev):
        raise EntryFormatError("prev_hash must be 64 lowercase hex digits")
    if not isinstance(obj["time"], str) or not isinstance(obj["request"], dict):
        raise EntryFormatError("time must be a string and request an object")
    entry = Entry(
        seq=obj["seq"],
        time=parse_time(obj["time"]),
        actor=obj["actor"],
        action=obj["action"],
        object_type=obj["object_type"],
        object_id=obj["object_id"],
        client_id=obj["client_id"],
        purpose=obj["purpose"],
        decision=obj["decision"],
        reason=obj["reason"],
        request=obj["request"],
        prev_hash=bytes.fromhex(prev),
    )
    if encode_entry(entry) != data:
        raise EntryFormatError("entry bytes are not in canonical form")
    return entry


def entry_leaf_hash(entry: Entry | bytes, hash_fn: HashFn = sha256) -> bytes:
    """Leaf hash `H(0x00 || canonical bytes)` of an entry (or of its stored bytes)."""
    data = entry if isinstance(entry, bytes) else encode_entry(entry)
    return hash_fn(LEAF_PREFIX + data)


# Where `prev_hash` and `seq` sit in canonical bytes. JSON strings cannot contain a bare
# quote, keys come in a fixed (sorted) order and everything after `seq` has a fixed
# length, so these anchors find the top-level fields without a JSON parse, which costs
# several times more per entry than hashing it.
_HEAD: Final = b'{"action":"'
_END: Final = b'Z","v":1}'
_PREV_KEY: Final = b',"prev_hash":"'
_SEQ_KEY: Final = b',"seq":'
_TIME_KEY: Final = b',"time":"'
_TAIL_LEN: Final = len(b',"time":"2026-01-01T00:00:00.000000Z","v":1}')


def scan_fields(data: bytes) -> tuple[int, bytes] | None:
    """(seq, prev_hash as 64 hex digits) read from canonical entry bytes, or None.

    Checks the fixed anchors only (start, end, key positions, a canonical decimal seq),
    not string escapes or UTF-8; `decode_entry` is the full check. Hot path of
    verification, hence None instead of an exception.
    """
    if not (data.startswith(_HEAD) and data.endswith(_END)):
        return None
    i = data.find(_PREV_KEY) + 14
    j = data.rfind(_SEQ_KEY) + 7
    tail = len(data) - _TAIL_LEN
    if i < 14 or j < 7 or data[i + 64 : i + 66] != b'",' or data[tail : tail + 9] != _TIME_KEY:
        return None
    digits = data[j:tail]
    if not digits.isdigit() or (digits[0] == 0x30 and len(digits) > 1):
        return None
    return int(digits), data[i : i + 64]


def scan_entry(data: bytes) -> tuple[int, bytes]:
    """Read (seq, prev_hash) from canonical entry bytes by their fixed anchors.

    Raises `EntryFormatError` when the anchors are not where a canonical entry has them
    (see `scan_fields`; `decode_entry` is the full check).
    """
    fields = scan_fields(data)
    if fields is None:
        raise EntryFormatError("bytes do not have the canonical entry layout")
    seq, prev_hex = fields
    try:
        prev = bytes.fromhex(prev_hex.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EntryFormatError("prev_hash is not hex") from exc
    if prev.hex().encode("ascii") != prev_hex:
        raise EntryFormatError("prev_hash is not lowercase hex")
    return seq, prev


# --- entry templates: encode once, fill in the position later --------------------------

_json_string: Final = encode_basestring


@dataclass(frozen=True, slots=True)
class EntryTemplate:
    """An entry's canonical bytes with `seq`, `time` and `prev_hash` still open.

    A sequencer validates and encodes what an event says before it takes the append
    lock (`EntryTemplate.build`), and under the lock only fills in the position
    (`render`): `build(**fields).render(seq, format_time(t), prev)` is exactly
    `encode_entry(Entry(seq=seq, time=t, prev_hash=prev, **fields))`.

    `head` is everything up to and including `"prev_hash":"`; `middle` runs from the
    quote closing prev_hash through `"seq":`. Because the keys are sorted, `seq`,
    `time` and `v` are the last three and prev_hash the only open field before them.
    """

    head: bytes
    middle: bytes

    @classmethod
    def build(
        cls,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        client_id: str | None,
        purpose: str,
        decision: str,
        reason: str,
        request: Mapping[str, str],
    ) -> EntryTemplate:
        """Validate the fields as `Entry` does and encode them.

        Raises `EntryFormatError` for a non-string field or request key/value, an
        unknown decision, or text that is not encodable as UTF-8.
        """
        if not (
            type(actor) is str
            and type(action) is str
            and type(object_type) is str
            and type(object_id) is str
            and type(purpose) is str
            and type(reason) is str
        ):
            for name, value in (
                ("actor", actor),
                ("action", action),
                ("object_type", object_type),
                ("object_id", object_id),
                ("purpose", purpose),
                ("reason", reason),
            ):
                if type(value) is not str:
                    raise EntryFormatError(f"{name} must be a string")
        if client_id is not None and type(client_id) is not str:
            raise EntryFormatError("client_id must be a string")
        if decision not in DECISIONS:
            raise EntryFormatError(f"decision must be one of {DECISIONS}")
        if type(request) is not dict and not isinstance(request, Mapping):
            raise EntryFormatError("request must be a mapping of strings")
        for key, value in request.items():
            if type(key) is not str or type(value) is not str:
                raise EntryFormatError("request must be a mapping of strings")
        pairs = sorted(request.items())
        # The same bytes `encode_entry` produces (json.dumps with sorted keys, compact
        # separators, ensure_ascii=False quotes each string with `encode_basestring`), put
        # together by hand: this runs once per append, and is several times as fast as
        # the generic encoder. Tests hold it equal to `encode_entry` for arbitrary text.
        q = _json_string
        cid = "null" if client_id is None else q(client_id)
        head = (
            f'{{"action":{q(action)},"actor":{q(actor)},"client_id":{cid},'
            f'"decision":{q(decision)},"object_id":{q(object_id)},'
            f'"object_type":{q(object_type)},"prev_hash":"'
        )
        fields = ",".join([f"{q(key)}:{q(value)}" for key, value in pairs])
        middle = f'","purpose":{q(purpose)},"reason":{q(reason)},"request":{{{fields}}},"seq":'
        try:
            return cls(head.encode("utf-8"), middle.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise EntryFormatError("entry text is not encodable as UTF-8") from exc

    def render(self, seq: int, time_text: str, prev_hash: bytes) -> bytes:
        """The canonical bytes of the entry at `seq`, time `time_text`, after `prev_hash`.

        `time_text` must be `format_time` output. Raises `EntryFormatError` for a
        negative or non-int seq, a malformed time or a prev_hash not 32 bytes long.
        """
        if type(seq) is not int or seq < 0:
            raise EntryFormatError("seq must be a non-negative int")
        if len(time_text) != 27 or not time_text.isascii() or not _TIME_RE.fullmatch(time_text):
            raise EntryFormatError("time must be format_time output")
        if type(prev_hash) is not bytes or len(prev_hash) != HASH_SIZE:
            raise EntryFormatError("prev_hash must be 32 bytes")
        return b"".join(
            (
                self.head,
                prev_hash.hex().encode("ascii"),
                self.middle,
                str(seq).encode("ascii"),
                b',"time":"',
                time_text.encode("ascii"),
                b'","v":1}',
            )
        )
