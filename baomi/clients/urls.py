from django.urls import path

from baomi.clients import views

app_name = "clients"
urlpatterns = [
    path("", views.client_list_view, name="list"),
    path("new/", views.client_create_view, name="create"),
    path("<int:client_id>/", views.client_detail_view, name="detail"),
    path("<int:client_id>/edit/", views.client_edit_view, name="edit"),
    path("<int:client_id>/contacts/", views.contacts_view, name="contacts"),
]
