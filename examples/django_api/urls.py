from django.urls import path

from examples.django_api import views

urlpatterns = [
    path("health", views.Health.as_view()),
    path("orders", views.Orders.as_view()),
    path("orders/<str:order_id>", views.CancelOrder.as_view()),
    path("report", views.report),
]
