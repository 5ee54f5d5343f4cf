"""Vault errors, rendered by the API as `{code, message, detail}` (codes are stable)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from baomi.errors import BaomiError, IntegrityFailure, InvalidInput, PayloadTooLarge


class KeyDestroyed(BaomiError):
    """The client's key was destroyed (crypto-shredding): its data is gone for good."""

    code = "key_destroyed"
    http_status = 410
    default_message = _(
        "This client's encryption key has been destroyed; its data can no longer be read."
    )


class MasterKeyUnavailable(BaomiError):
    """The configured master key cannot be loaded or does not open this data."""

    code = "master_key_unavailable"
    http_status = 503
    default_message = _(
        "The master key is not available: check the key file, passphrase or HSM settings."
    )


class AuditUnavailable(BaomiError):
    """The audit hook failed, so the action was refused (fail closed)."""

    code = "audit_unavailable"
    http_status = 503
    default_message = _("The access could not be recorded, so it was refused.")


class DocumentCorrupted(IntegrityFailure):
    """A stored document (or its wrapped key) failed authentication; it is never served."""

    code = "document_corrupted"
    default_message = _(
        "This document failed its integrity check and will not be served. "
        "The compliance officer has to restore it from a backup."
    )


class RecordCorrupted(IntegrityFailure):
    code = "record_corrupted"
    default_message = _("A protected field failed its integrity check.")


class UploadRejected(InvalidInput):
    code = "upload_rejected"
    default_message = _("The upload was rejected.")


class UploadTooLarge(PayloadTooLarge):
    code = "upload_too_large"
    default_message = _("The file is larger than the upload limit.")


class WatermarkTooLarge(PayloadTooLarge):
    code = "watermark_too_large"
    default_message = _(
        "This file is too large to be watermarked, so it cannot be downloaded here."
    )


class WatermarkFailed(BaomiError):
    code = "watermark_failed"
    http_status = 422
    default_message = _(
        "The file could not be watermarked (it may be damaged), so it is not served."
    )
