from django.urls import path

from baomi.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.index, name="index"),
    path("clients/", views.clients_upload, name="clients"),
    path("documents/", views.documents_upload, name="documents"),
    path("jobs/<int:job_id>/", views.job_page, name="job"),
    path("jobs/<int:job_id>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:job_id>/resume/", views.job_resume, name="job_resume"),
    path("jobs/<int:job_id>/documents/", views.job_documents, name="documents_confirm"),
]
