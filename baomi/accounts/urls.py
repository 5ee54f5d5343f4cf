from django.urls import path

from baomi.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.otp_view, name="otp"),
    path("logout/", views.logout_view, name="logout"),
    path("security/", views.security_view, name="security"),
    path("2fa/setup/", views.mfa_setup_view, name="mfa_setup"),
    path("2fa/qr.svg", views.mfa_qr_view, name="mfa_qr"),
    path("staff/new/", views.staff_create_view, name="staff_create"),
    path("staff/<int:user_id>/edit/", views.staff_edit_view, name="staff_edit"),
]
