from django.urls import path

from baomi.vault import views

app_name = "vault"
urlpatterns = [
    path("clients/<int:client_id>/upload/", views.upload_page, name="upload_page"),
    path("clients/<int:client_id>/documents/", views.upload, name="upload"),
    path("clients/<int:client_id>/contacts/", views.contact_create, name="contact_create"),
    path("documents/<int:document_id>/", views.document_page, name="document"),
    path("documents/<int:document_id>/versions/", views.version_upload, name="version_upload"),
    path("documents/<int:document_id>/download/", views.download, name="download"),
]
