"""One error shape for the whole API."""

import pytest
from django.urls import path
from rest_framework import serializers
from rest_framework.test import APIClient
from rest_framework.views import APIView

from xsell_plugin.core.exceptions import Conflict, NotFound


class Input(serializers.Serializer):
    email = serializers.EmailField()


class Boom(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request, kind):
        if kind == "conflict":
            raise Conflict("Already installed.", extra={"store": 3})
        if kind == "missing":
            raise NotFound()
        Input(data=request.data).is_valid(raise_exception=True)
        return None


urlpatterns = [path("boom/<str:kind>", Boom.as_view())]


@pytest.fixture
def client(settings):
    settings.ROOT_URLCONF = __name__
    return APIClient()


def test_application_error(client):
    response = client.post("/boom/conflict")
    assert response.status_code == 409
    assert response.json() == {"code": "conflict", "message": "Already installed.", "extra": {"store": 3}}


def test_not_found(client):
    response = client.post("/boom/missing")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_validation_error_names_the_field(client):
    response = client.post("/boom/validate", {"email": "nope"}, format="json")
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "validation_failed"
    assert list(body["extra"]["fields"]) == ["email"]


def test_drf_errors_keep_the_shape(client):
    response = client.get("/boom/conflict")
    assert response.status_code == 405
    assert set(response.json()) == {"code", "message", "extra"}
    assert response.json()["code"] == "method_not_allowed"
