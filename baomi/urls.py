from django.urls import include, path
from django.views.i18n import set_language

from baomi.access import api as access_api  # noqa: F401  (registers /access endpoints)
from baomi.api import v1  # noqa: F401  (registers the endpoints on `api`)
from baomi.api.base import api
from baomi.audit import api as audit_api  # noqa: F401  (registers /ledger endpoints)
from baomi.classification import api as classification_api  # noqa: F401  (/classification)
from baomi.core import views as core_views
from baomi.vault import api as vault_api  # noqa: F401  (registers documents and contacts)

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("baomi.accounts.urls")),
    path("clients/", include("baomi.clients.urls")),
    path("access/", include("baomi.access.urls")),
    path("vault/", include("baomi.vault.urls")),
    path("audit/", include("baomi.audit.urls")),
    path("classification/", include("baomi.classification.urls")),
    path("imports/", include("baomi.imports.urls")),
    path("", include("baomi.core.urls")),
]

handler403 = "baomi.core.views.error_403"
handler404 = "baomi.core.views.error_404"
handler500 = "baomi.core.views.error_500"
