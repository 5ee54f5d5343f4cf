"""Django system checks for access governance: configuration found wrong at start,
not when the first client's signed form is refused."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register(checks.Tags.security)
def form_trust_roots(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """BAOMI_FORM_TRUST_ROOTS names files that can be read as certificates."""
    from baomi.access import formsig

    try:
        formsig.trust_roots()
    except formsig.FormRefused:
        return [checks.Error(
            "BAOMI_FORM_TRUST_ROOTS names a file that cannot be read as CA certificates "
            "(PEM or DER; an end-entity certificate is not a root); every signed "
            "authorization form would be refused.",
            hint="Fix the paths (separated by ':') or unset the variable.",
            id="baomi.E001",
        )]
    return []
