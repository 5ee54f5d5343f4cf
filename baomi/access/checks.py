"""Django system checks for access governance: configuration found wrong at start,
not when the first client's signed form is refused."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.security)
def form_trust_roots(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """BAOMI_FORM_TRUST_ROOTS names files that can be read as CA certificates, and
    BAOMI_FORM_CRLS files that can be read as revocation lists (used only with roots)."""
    from baomi.access import formsig

    try:
        roots = formsig.trust_roots()
    except formsig.FormRefused:
        return [checks.Error(
            "BAOMI_FORM_TRUST_ROOTS names a file that cannot be read as CA certificates "
            "(PEM or DER; an end-entity certificate is not a root); every signed "
            "authorization form would be refused.",
            hint="Fix the paths (separated by ':') or unset the variable.",
            id="baomi.E001",
        )]
    try:
        crls = formsig.revocation_lists()
    except formsig.FormRefused:
        return [checks.Error(
            "BAOMI_FORM_CRLS names a file that cannot be read as a certificate revocation "
            "list (PEM or DER); every signed authorization form would be refused.",
            hint="Fix the paths (separated by ':') or unset the variable.",
            id="baomi.E002",
        )]
    if crls and any(root.self_signed == "no" for root in roots):
        return [checks.Warning(
            "BAOMI_FORM_TRUST_ROOTS lists a CA certificate that is not a root (not "
            "self-signed) while BAOMI_FORM_CRLS is set: its own revocation cannot be "
            "checked, so forms whose chain ends at it are refused (form_revocation_unknown).",
            hint="List only root CAs; intermediates come with the signed form.",
            id="baomi.W002",
        )]
    if crls and not roots:
        return [checks.Warning(
            "BAOMI_FORM_CRLS is set without BAOMI_FORM_TRUST_ROOTS: revocation is checked "
            "along a chain to a trusted CA, so the lists are not used.",
            hint="Set BAOMI_FORM_TRUST_ROOTS to the CAs whose lists these are.",
            id="baomi.W001",
        )]
    return []
