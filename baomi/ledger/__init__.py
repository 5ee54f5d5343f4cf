"""Tamper-evident audit ledger core: RFC 9162 Merkle log maths, entries, checkpoints.

Framework-free (no Django) and free of `cryptography` imports: hashing and signatures
come from `baomi.crypto`. Modules:

- `hashing`    leaf/node hashing and the Merkle tree hash (SHA-256 default, SM3 option)
- `storage`    the `NodeReader`/`NodeWriter` storage interface and an in-memory store
- `proof`      inclusion and consistency proofs: plans, generation, verification
- `compact`    `CompactRange`, the O(log n) incremental tree state
- `entry`      the `Entry` record and its canonical byte encoding
- `checkpoint` signed checkpoints (signed-note text) and their files
- `verify`     full-log verification and fork checks
"""
