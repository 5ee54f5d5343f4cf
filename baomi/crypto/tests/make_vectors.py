"""Builds the known-answer vectors in vectors.json from fixed keys, nonces and plaintexts.

Run once (``python -m baomi.crypto.tests.make_vectors``) when a format is introduced;
afterwards test_vectors.py checks that the code still produces the committed bytes.
Regenerating the file to make a failing test pass is a format change, never a fix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from baomi.crypto import (
    Key,
    KeyFileProvider,
    blind_index,
    client_key_wrap,
    data_key_wrap,
    derive_subkey,
    seal_bytes,
    seal_stream,
)
from baomi.crypto.suites import SUITE_NAMES, SuiteName
from baomi.crypto.tests.helpers import queue_rand

VECTORS_PATH = Path(__file__).with_name("vectors.json")

NONCE24 = bytes(range(0x40, 0x58))
SALT = bytes(range(0xA0, 0xB0))
PREFIX = bytes(range(0xC0, 0xC7))
FIELD_AAD = b"client:1|field:name"
STREAM_AAD = b"client:1|object:9"
SMALL_PLAINTEXTS = [b"", b"hello", "客户名称：北京某某财税咨询有限公司".encode()]
# Empty, one byte, exactly one chunk, exactly two chunks, two chunks and a bit.
STREAM_CASES = [(16, 0), (16, 1), (16, 16), (16, 32), (16, 37), (32, 100)]


def suite_keys(suite: SuiteName) -> dict[str, Key]:
    size = 32 if suite == "aes-256-gcm" else 16
    return {
        "master": Key(bytes([0x11]) * size, suite),
        "client": Key(bytes(range(0x20, 0x20 + size)), suite),
        "data": Key(bytes(range(0x60, 0x60 + size)), suite),
    }


def stream_plaintext(n: int) -> bytes:
    return bytes(i % 256 for i in range(n))


def build() -> dict[str, Any]:
    """Every vector, as JSON-ready data (bytes as lowercase hex)."""
    out: dict[str, Any] = {
        "primitives": [
            {
                "name": "SM4-GCM, RFC 8998 appendix A.1",
                "suite": "sm4-gcm",
                "key": "0123456789abcdeffedcba9876543210",
                "nonce": "00001234567800000000abcd",
                "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                "plaintext": "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
                "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
                "ciphertext_and_tag": "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282"
                "bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
                "83de3541e4c2b58177e065a9bf7b62ec",
            }
        ],
        "suites": {},
    }
    for suite in SUITE_NAMES:
        keys = suite_keys(suite)
        master = KeyFileProvider(keys["master"], rand=queue_rand(NONCE24))
        index_key = derive_subkey(keys["client"], "blind-index")
        out["suites"][suite] = {
            "keys": {name: {"key": k.material.hex(), "key_id": k.key_id.hex()}
                     for name, k in keys.items()},
            "seal_bytes": [
                {
                    "key": "data",
                    "nonce": NONCE24.hex(),
                    "aad": FIELD_AAD.hex(),
                    "plaintext": p.hex(),
                    "sealed": seal_bytes(keys["data"], p, FIELD_AAD, nonce=NONCE24).hex(),
                }
                for p in SMALL_PLAINTEXTS
            ],
            "stream": [
                {
                    "key": "data",
                    "chunk_size": cs,
                    "salt": SALT.hex(),
                    "nonce_prefix": PREFIX.hex(),
                    "aad": STREAM_AAD.hex(),
                    "plaintext": stream_plaintext(n).hex(),
                    "sealed": b"".join(
                        seal_stream(
                            keys["data"], STREAM_AAD, [stream_plaintext(n)],
                            chunk_size=cs, rand=queue_rand(SALT, PREFIX),
                        )
                    ).hex(),
                }
                for cs, n in STREAM_CASES
            ],
            "client_key_wrap": {
                "master": "master",
                "client_id": "client-1",
                "nonce": NONCE24.hex(),
                "client_key": "client",
                "wrapped": client_key_wrap(master, "client-1", keys["client"]).hex(),
            },
            "data_key_wrap": {
                "client_key": "client",
                "client_id": "client-1",
                "object_id": "object-9",
                "nonce": NONCE24.hex(),
                "data_key": "data",
                "wrapped": data_key_wrap(
                    keys["client"], "client-1", "object-9", keys["data"],
                    rand=queue_rand(NONCE24),
                ).hex(),
            },
            "blind_index": {
                "key": "client",
                "purpose": "blind-index",
                "subkey": index_key.material.hex(),
                "field": "id_number",
                "value": "110101199003071234",
                "token": blind_index(index_key, "id_number", "110101199003071234"),
            },
        }
    return out


def main() -> int:
    VECTORS_PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    sys.stdout.write(f"wrote {VECTORS_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
