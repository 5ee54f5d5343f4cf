"""The checkpoint-signing key follows master-key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from baomi.audit import selectors, signing
from baomi.audit.services import AuditEvent, ledger_append
from baomi.crypto import wrapped_key_id

pytestmark = pytest.mark.django_db


def test_signing_key_is_rewrapped_by_master_rotation(make_user):
    from baomi.vault import door, services

    ledger_append(AuditEvent(actor="t", action="x"))
    selectors.checkpoint_create()
    public_before = signing.signing_public_key()
    old_master = door.master_provider(refresh=True).key_id
    admin = make_user("keyadmin", role="admin")
    services.master_key_rotate(actor=admin, progress=None, new_key_label=None)
    new_master = door.master_provider(refresh=True).key_id
    assert new_master != old_master
    blob = signing.signing_key_path().read_bytes()
    assert wrapped_key_id(blob) == new_master
    # Retire the previous key file: the ledger still signs and verifies with its key.
    for prev in Path(settings.DATA_DIR).glob("master.key.prev-*"):
        prev.unlink()
    door.reset_caches()
    signing._seed_for.cache_clear()
    assert signing.signing_public_key() == public_before
    ledger_append(AuditEvent(actor="t", action="y"))
    selectors.checkpoint_create()
    assert selectors.ledger_verify().ok
