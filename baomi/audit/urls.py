from django.urls import path

from baomi.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.ledger_view, name="ledger"),
    path("verify/", views.ledger_verify_view, name="verify"),
    path("verify/progress/", views.ledger_verify_progress, name="verify_progress"),
]
