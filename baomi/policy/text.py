"""Free text the policy weighs: a stated purpose, a break-glass reason.

A purpose must say something a reader can see. Control characters (Cc: NUL, escape
sequences) and invisible format characters (Cf: zero-width spaces, joiners, the BOM,
bidirectional overrides) say nothing, and in the ledger, a watermark or an export they
can hide or disguise what was stated; they are removed, runs of whitespace become one
space, and what remains is the statement. Text of such characters alone states nothing.
"""

from __future__ import annotations

import unicodedata

# Control and format characters, and lone surrogates (which JSON can carry but no
# database can store as text).
_SILENT = frozenset({"Cc", "Cf", "Cs"})

# The most characters a statement may have, counted as stated (`stated`). Longer text is
# refused, never cut: a purpose is recorded whole, and a read under an approved query
# request must restate its purpose exactly, so the limit of a request's purpose and of a
# read's is this one. The ledger's purpose column (`baomi.audit.services.MAX_TEXT`)
# holds it whole.
PURPOSE_LIMIT = 500
# The same for a reason or a note: a break-glass reason, a revocation reason, a
# request's decision note, a break-glass review note.
REASON_LIMIT = 500


def stated(text: str | None) -> str:
    """`text` as a statement: silent characters removed, whitespace collapsed and
    trimmed; "" when nothing visible is left."""
    if not text:
        return ""
    if text.isprintable():  # the usual case: nothing silent in it
        return " ".join(text.split())
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _SILENT
    )
    return " ".join(kept.split())
