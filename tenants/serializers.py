"""The REST API's shapes of clients and systems: snake_case, as IT Glue's and Hudu's
organizations and configurations, ids rather than slugs, no database lookups."""

from rest_framework import serializers

from tenants.models import AccessLevel, Client, System


class AccessLevelField(serializers.ChoiceField):
    """An access level by name ("view", "use", "privileged", "manage"), not its number."""

    def __init__(self, **kwargs):
        super().__init__(choices=[level.name.lower() for level in AccessLevel], **kwargs)

    def to_representation(self, value):
        return AccessLevel(value).name.lower()


class ClientRefSerializer(serializers.Serializer):
    """A client named inside another resource."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


class ClientSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    status = serializers.ChoiceField(choices=Client.Status.choices, read_only=True)
    psa_company_id = serializers.CharField(
        read_only=True, help_text="The client's company id in your PSA; empty when not set."
    )
    business_time_zone = serializers.CharField(read_only=True)
    my_level = AccessLevelField(
        read_only=True, help_text="The caller's access level on this client."
    )
    system_count = serializers.SerializerMethodField(help_text="Active systems.")
    created_at = serializers.DateTimeField(read_only=True)

    def get_system_count(self, client: Client) -> int:
        # A subquery's count, NULL for a client without systems.
        return client.system_count or 0


class ClientFilterSerializer(serializers.Serializer):
    """The query parameters of the client list."""

    search = serializers.CharField(
        required=False, allow_blank=True, help_text="Part of the client's name or slug."
    )
    status = serializers.ChoiceField(choices=Client.Status.choices, required=False)


class SystemRefSerializer(serializers.Serializer):
    """A system named inside another resource."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


class SystemSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    client = ClientRefSerializer(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=System.Kind.choices, read_only=True)
    status = serializers.ChoiceField(choices=System.Status.choices, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class SystemFilterSerializer(serializers.Serializer):
    """The query parameters of the system list."""

    client = serializers.UUIDField(required=False, help_text="Only this client's systems.")
    kind = serializers.ChoiceField(choices=System.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=System.Status.choices, required=False)
    search = serializers.CharField(
        required=False, allow_blank=True, help_text="Part of the system's or its client's name."
    )
