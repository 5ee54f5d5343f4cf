"""What people read for the ledger's stable error codes (the API and the `baomi` command).

The ledger core (`baomi.ledger`) explains a failure in English for operators and logs,
with a stable `code` (`baomi.ledger.errors`). The Django layer shows the message below
for the code, in the reader's language, keeps the code as it is, and passes the core's
own text along as detail. A code missing here falls back to a general message.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

LEDGER_MESSAGES: dict[str, Promise] = {
    # An exported checkpoint handed back (`/ledger/consistency`, `baomi ledger consistency`).
    "checkpoint_malformed": _("This is not a well-formed signed checkpoint."),
    "signature_invalid": _("The checkpoint's signature does not verify."),
    "unknown_key": _("The checkpoint is not signed by this audit log's key."),
    "hash_mismatch": _("The checkpoint uses a different hash algorithm from this audit log."),
    "origin_mismatch": _("The checkpoint belongs to a different audit log."),
    "fork": _("The audit log does not extend this checkpoint: its history was changed."),
    "rollback": _("The audit log is shorter than this checkpoint: entries were removed."),
    # Proofs (`/ledger/proof/{seq}`, `baomi ledger prove`).
    "proof_unavailable": _(
        "No proof is available for this entry: it does not exist, or no checkpoint covers "
        "it yet."
    ),
    "proof_invalid": _("A proof does not verify."),
    "node_missing": _("A stored tree hash is missing; run verification."),
    "node_conflict": _("Two different histories were written for the same entries."),
    # Verification of the whole log (`/ledger/verify`, `baomi ledger verify`).
    "entry_malformed": _("An entry's stored bytes do not decode: it was altered."),
    "state_malformed": _("A stored tree state is malformed."),
    "sequence_gap": _("An entry is missing from the sequence."),
    "sequence_duplicate": _("An entry appears twice in the sequence."),
    "chain_broken": _("The chain of entries is broken: an entry was altered or removed."),
    "root_mismatch": _("The entries do not give the signed root: an entry was altered."),
    "truncated": _("Entries are missing at the end of the audit log."),
    "index_mismatch": _(
        "The search index differs from the entries (`baomi ledger reindex` rebuilds the "
        "filter index)."
    ),
    "state_mismatch": _("A stored copy of the tree differs from the entries: it was altered."),
    "checkpoint_mismatch": _("A stored checkpoint differs from its signed text: it was altered."),
}

LEDGER_MESSAGE_DEFAULT: Promise = _("The audit log could not complete this request.")


def ledger_message(code: str) -> str:
    """The message for ledger error `code` in the active language (a general one for a
    code this table does not know)."""
    return str(LEDGER_MESSAGES.get(code, LEDGER_MESSAGE_DEFAULT))
