"""Storage for the tamper-evident audit ledger (the maths lives in `baomi.ledger`).

`LedgerEntry.data` holds the canonical entry bytes that are hashed into the Merkle
tree: they are the record. The other entry columns are copies kept only so the log can
be filtered; `baomi ledger verify` checks that they agree with the hashed bytes. Rows
are only ever inserted: nothing in Baomi updates or deletes them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class SeqField(models.BigIntegerField):  # type: ignore[type-arg]  # stubs: generic only in annotations
    """A 64-bit sequence number that is SQLite's rowid (no separate primary-key index).

    Each index touched by an append is another page in every commit, so the ledger
    table keeps as few as it can.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "sqlite":
            return "integer"
        return super().db_type(connection)

    def rel_db_type(self, connection: Any) -> str | None:
        # A one-to-one primary key pointing here is a rowid as well.
        return self.db_type(connection)


class LedgerEntry(models.Model):
    """One appended entry, with the tree state after it.

    `state` (the compact range after this entry) and `nodes` (the perfect-subtree hashes
    this append completed, levels 1, 2, … concatenated) live in the entry's own row, so
    an append writes one row: the last row is the sequencer's head, and proofs read
    inner node (level, index) from row `((index + 1) << level) - 1`.
    """

    seq = SeqField(primary_key=True)
    time = models.DateTimeField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    # NULL (not "") for events about no client, mirroring the entry's JSON null.
    client_id = models.CharField(max_length=64, null=True)  # noqa: DJ001
    purpose = models.CharField(max_length=500)
    decision = models.CharField(max_length=10)
    reason = models.CharField(max_length=500)
    data = models.BinaryField()
    leaf_hash = models.BinaryField()
    state = models.BinaryField()
    nodes = models.BinaryField()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class LedgerLookup(models.Model):
    """The ledger's filter index: who acted and which client, per entry, indexed.

    Kept behind the append path, like PostgreSQL's GIN pending list: an append writes
    only its own row (indexes on the entry table would add two randomly placed index
    pages to every durable commit), and `services.lookup_catch_up` copies the entries
    appended since into this table in one transaction: after every bulk append and on
    the scheduler's turn. The copied rows are always the prefix of the log up to some
    seq (entries commit in seq order, and the copy takes all of them after the highest
    seq already here), so a listing reads the index up to that seq and the few entries
    after it from the entry table (`selectors.entry_list`); reads never write.

    Derived data: `baomi ledger verify` checks that it agrees with the hashed entries,
    and `baomi ledger reindex` rebuilds it from them.
    """

    entry = models.OneToOneField(
        LedgerEntry,
        primary_key=True,
        db_column="seq",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="lookup",
    )
    actor = models.CharField(max_length=150)
    client_id = models.CharField(max_length=64, null=True)  # noqa: DJ001

    class Meta:
        # With seq in the index, a client's (or actor's) newest entries come out of it in
        # order on PostgreSQL as on SQLite (where every index ends in the rowid anyway).
        indexes = [
            models.Index(fields=["client_id", "entry"], name="audit_lookup_client_seq"),
            models.Index(fields=["actor", "entry"], name="audit_lookup_actor_seq"),
        ]

    def __str__(self) -> str:
        return f"lookup #{self.pk}"


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


class VerificationStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    # The process running it died, or it failed before it could give a verdict.
    INTERRUPTED = "interrupted", _("Interrupted")


class VerificationRun(models.Model):
    """One full verification of the log: its progress while it runs
    (`baomi.audit.verify_jobs`), then its outcome, shown on the audit page.

    At most one row is `running` at a time (a partial unique index: the claim that
    keeps two workers, or two clicks, from both starting one). `ok` and `finished_at`
    are NULL until the verdict is in; a run that stopped without one is `interrupted`
    and keeps them NULL.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    status = models.CharField(
        max_length=12, choices=VerificationStatus.choices, default=VerificationStatus.DONE
    )
    # Who asked for it (web or API); blank for the scheduler and the command line.
    requested_by = models.CharField(max_length=150, blank=True, default="")
    checked = models.BigIntegerField(default=0)
    # The entries to verify: the head's size read when the run started.
    target = models.BigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True)
    ok = models.BooleanField(null=True)
    size = models.BigIntegerField(default=0)
    checkpoints = models.IntegerField(default=0)
    code = models.CharField(max_length=40, blank=True)
    first_bad_seq = models.BigIntegerField(null=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="audit_one_verification_running",
            ),
        ]

    def __str__(self) -> str:
        if self.status != VerificationStatus.DONE:
            return f"verification {self.status} at {self.checked}/{self.target}"
        return f"verification {'ok' if self.ok else self.code} at {self.size}"

    @property
    def percent(self) -> int:
        """How far it got, 0 to 100 (for the progress bar)."""
        if self.target <= 0:
            return 100 if self.status == VerificationStatus.DONE else 0
        return max(0, min(100, self.checked * 100 // self.target))
