"""Errors raised by the ledger core.

Each error carries a stable snake_case `code` (part of the CLI/API contract, in the
Saleor style) so that the Django layer can map it onto `baomi.errors` without parsing
messages.
"""

from __future__ import annotations

from enum import StrEnum


class LedgerError(Exception):
    """Base class of every ledger-core error; `code` is stable, `str()` is for humans."""

    code: str = "ledger_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ProofError(LedgerError):
    """An inclusion or consistency proof does not verify (or cannot be built as asked)."""

    code = "proof_invalid"


class EntryFormatError(LedgerError, ValueError):
    """An entry is not valid or its bytes are not the canonical encoding of one."""

    code = "entry_malformed"


class StateFormatError(LedgerError, ValueError):
    """A serialised compact range (tree state) is malformed."""

    code = "state_malformed"


class MissingNode(LedgerError, LookupError):
    """Node storage does not hold a subtree hash a proof needs."""

    code = "node_missing"


class NodeConflict(LedgerError):
    """Node storage was asked to store a different hash under an existing node id.

    This means two different histories were written, so it is never retried silently.
    """

    code = "node_conflict"


class CheckpointError(LedgerError):
    """A checkpoint is malformed, unsigned by a trusted key, or its signature is forged."""

    code = "checkpoint_malformed"


class VerifyCode(StrEnum):
    """Reason codes of `LedgerVerificationError` and `ForkDetected` (stable API values)."""

    ENTRY_MALFORMED = "entry_malformed"
    SEQUENCE_GAP = "sequence_gap"
    SEQUENCE_DUPLICATE = "sequence_duplicate"
    CHAIN_BROKEN = "chain_broken"
    ROOT_MISMATCH = "root_mismatch"
    TRUNCATED = "truncated"
    SIGNATURE_INVALID = "signature_invalid"
    UNKNOWN_KEY = "unknown_key"
    CHECKPOINT_MALFORMED = "checkpoint_malformed"
    HASH_MISMATCH = "hash_mismatch"
    ORIGIN_MISMATCH = "origin_mismatch"
    FORK = "fork"
    ROLLBACK = "rollback"
    # Storage only (`baomi ledger verify` on the database): a filterable copy of an
    # entry's fields, or the filter index, disagrees with the hashed bytes.
    INDEX_MISMATCH = "index_mismatch"
    # Storage only: a stored copy of the tree (an entry's leaf hash, the tree state after
    # it, or the inner nodes its append completed) differs from the one recomputed from
    # the hashed bytes; proofs and the next append are built from these copies.
    STATE_MISMATCH = "state_mismatch"
    # Storage only: a checkpoint row's size or root column differs from its signed text.
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"


class LedgerVerificationError(LedgerError):
    """The log failed verification; names the first bad entry or checkpoint.

    `seq` is the first entry implicated (None when the failure is about a checkpoint
    as a whole); `checkpoint_size` is the size of the checkpoint involved, if any.
    """

    def __init__(
        self,
        code: VerifyCode,
        detail: str,
        *,
        seq: int | None = None,
        checkpoint_size: int | None = None,
    ) -> None:
        where = []
        if seq is not None:
            where.append(f"seq {seq}")
        if checkpoint_size is not None:
            where.append(f"checkpoint size {checkpoint_size}")
        prefix = f"{code.value} at {', '.join(where)}: " if where else f"{code.value}: "
        super().__init__(prefix + detail, code=code.value)
        self.reason = code
        self.seq = seq
        self.checkpoint_size = checkpoint_size
        self.detail = detail


class ForkDetected(LedgerError):
    """The current log does not extend a previously exported checkpoint."""

    def __init__(self, code: VerifyCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}", code=code.value)
        self.reason = code
        self.detail = detail
