"""The seed validator's routes: the same whoami shape as relying_party.views, authenticated by simplejwt."""
from __future__ import annotations

from django.urls import re_path
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication


class WhoAmIView(APIView):
    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        claims = request.auth.payload
        body = {
            "app": "seed",
            "sub": claims["sub"],
            "username": claims.get("username", ""),
            "email": claims.get("email", ""),
            "sid": claims.get("sid"),
            "kid": None,
        }
        return Response(body, headers={"Cache-Control": "no-store"})


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "app": "seed"}, headers={"Cache-Control": "no-store"})


urlpatterns = [
    re_path(r"^api/whoami/?$", WhoAmIView.as_view(), name="whoami"),
    re_path(r"^api/health/?$", HealthView.as_view(), name="health"),
]
