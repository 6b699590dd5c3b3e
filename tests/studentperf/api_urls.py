"""The project's URLs plus a small API view that exercises the shared API machinery (tests only)."""
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response

from studentperf.api.base import ApiView
from studentperf.errors import ApplicationError
from studentperf.urls import urlpatterns as project_urlpatterns


class ItemSerializer(serializers.Serializer):
    age = serializers.IntegerField(min_value=15, max_value=22)


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField()
    items = ItemSerializer(many=True, required=False)

    def validate(self, data):
        if data.get("name") == "forbidden":
            raise serializers.ValidationError("This name is not allowed.")
        return data


class EchoApi(ApiView):
    required_scope = "write"

    def get(self, request):
        kind = request.query_params.get("fail")
        if kind:
            raise ApplicationError(f"Failed as {kind}.", kind=kind, fields={"thing": ["is wrong"]})
        return Response({"user": request.user.get_username(), "key": getattr(request.auth, "prefix", None)})

    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


urlpatterns = [path("api/v1/test/echo", EchoApi.as_view()), *project_urlpatterns]
