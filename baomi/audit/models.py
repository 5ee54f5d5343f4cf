"""Storage for the tamper-evident audit ledger (the maths lives in `baomi.ledger`).

`LedgerEntry.data` holds the canonical entry bytes that are hashed into the Merkle
tree: they are the record. The other entry columns are copies kept only so the log can
be filtered by client, actor, action and time; `baomi ledger verify` checks that they
agree with the hashed bytes. Rows are only ever inserted: nothing in Baomi updates or
deletes them.
"""

from __future__ import annotations

from django.db import models


class LedgerHead(models.Model):
    """The single row (pk=1) holding the sequencer state: size and compact range.

    Every append locks this row (SELECT … FOR UPDATE on PostgreSQL; the database-wide
    write lock on SQLite), which is what serializes the sequence across processes.
    """

    size = models.BigIntegerField(default=0)
    state = models.BinaryField()  # CompactRange.to_bytes()
    last_leaf_hash = models.BinaryField()
    hash_name = models.CharField(max_length=10, default="sha256")
    updated_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"ledger head at size {self.size}"


class LedgerEntry(models.Model):
    seq = models.BigIntegerField(primary_key=True)
    time = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    # NULL (not "") for events about no client, mirroring the entry's JSON null.
    client_id = models.CharField(max_length=64, null=True, db_index=True)  # noqa: DJ001
    purpose = models.CharField(max_length=500)
    decision = models.CharField(max_length=10, db_index=True)
    reason = models.CharField(max_length=500)
    data = models.BinaryField()
    leaf_hash = models.BinaryField()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class LedgerNode(models.Model):
    """Perfect-subtree hashes above the leaves (level ≥ 1), for O(log n) proofs."""

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="uniq_ledger_node")]

    def __str__(self) -> str:
        return f"node ({self.level}, {self.index})"


class LedgerCheckpoint(models.Model):
    """A signed checkpoint (signed-note text) of the log at `size`."""

    size = models.BigIntegerField(db_index=True)
    root = models.BinaryField()
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-size", "-id"]

    def __str__(self) -> str:
        return f"checkpoint at size {self.size}"


class VerificationRun(models.Model):
    """The outcome of each full verification, shown on the audit page."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    size = models.BigIntegerField()
    code = models.CharField(max_length=40, blank=True)
    first_bad_seq = models.BigIntegerField(null=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"verification {'ok' if self.ok else self.code} at {self.size}"
