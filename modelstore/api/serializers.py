from rest_framework import serializers

from modelstore.models import ModelVersion


class ModelVersionListSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["version", "name", "status", "setups", "created_at", "metrics", "artifact_sha256"]
        read_only_fields = fields


class FeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["category", "int"])
    label = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField(), required=False, help_text="Categories only.")
    min = serializers.IntegerField(required=False, help_text="Integers only.")
    max = serializers.IntegerField(required=False, help_text="Integers only.")


class ActiveModelSerializer(serializers.ModelSerializer):
    feature_schema = serializers.DictField(
        child=FeatureSerializer(many=True), help_text="Per setup (A, B, C): the attributes it reads."
    )
    setups = serializers.ListField(child=serializers.ChoiceField(choices=["A", "B", "C"]))
    metrics = serializers.DictField(help_text="Cross-validation and reference metrics, with their protocol.")

    class Meta:
        model = ModelVersion
        fields = ["version", "name", "setups", "feature_schema", "metrics", "created_at"]
        read_only_fields = fields
