from django.urls import path

from baomi.classification import views

app_name = "classification"

urlpatterns = [
    path("documents/<int:document_id>/", views.confirm, name="confirm"),
    path("review/", views.review_queue, name="review"),
    path("review/<int:item_id>/", views.review_resolve, name="review_resolve"),
]
