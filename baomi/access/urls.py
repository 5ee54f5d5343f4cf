from django.urls import path

from baomi.access import views

app_name = "access"
urlpatterns = [
    path("", views.home, name="home"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("matrix/", views.matrix, name="matrix"),
    path("clients/<int:client_id>/", views.client_access, name="client"),
    path("clients/<int:client_id>/request/", views.request_new, name="request_new"),
    path("clients/<int:client_id>/authorizations/", views.authorization_grant,
         name="authorization_grant"),
    path("clients/<int:client_id>/assignments/", views.assignment_change,
         name="assignment_change"),
    path("authorizations/<int:authorization_id>/revoke/", views.authorization_revoke,
         name="authorization_revoke"),
    path("requests/<int:request_id>/<str:verdict>/", views.request_decide,
         name="request_decide"),
    path("staff/<int:user_id>/", views.staff_access, name="staff"),
    path("documents/<int:document_id>/break-glass/", views.break_glass, name="break_glass"),
    path("break-glass/", views.break_glass_reviews, name="break_glass_reviews"),
    path("agreements/", views.agreements, name="agreements"),
    path("agreements/<int:agreement_id>/renew/", views.agreement_renew, name="agreement_renew"),
    path("agreements/<int:agreement_id>/scan/", views.agreement_scan, name="agreement_scan"),
    path("trainings/", views.trainings, name="trainings"),
    path("trainings/<int:training_id>/renew/", views.training_renew, name="training_renew"),
    path("partners/", views.partners, name="partners"),
    path("partners/<int:org_id>/", views.partner, name="partner"),
    path("purposes/", views.purposes, name="purposes"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/<int:campaign_id>/", views.review, name="review"),
    path("reviews/<int:campaign_id>/export.<str:fmt>", views.review_export,
         name="review_export"),
]
