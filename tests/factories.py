import secrets

import factory
from django.contrib.auth.models import Group

from accounts.models import Role, TotpDevice, User
from tenants.models import Client, System

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A staff member with a confirmed authenticator; `roles` names their groups."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@msp.example")
    full_name = factory.Sequence(lambda n: f"Staff Member {n}")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        names = extracted if extracted is not None else [Role.TECHNICIAN]
        self.groups.set(Group.objects.filter(name__in=names))
        if Role.ADMINISTRATOR in names:
            self.is_staff = True
            self.save(update_fields=["is_staff"])

    @factory.post_generation
    def mfa(self, create, extracted, **kwargs):
        if extracted is False:
            return
        TotpDevice.objects.create(
            user=self,
            name="Test authenticator",
            confirmed=True,
            sealed_secret=TotpDevice.seal_secret(secrets.token_bytes(20), user_id=self.pk),
        )


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")
    status = Client.Status.ACTIVE


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"SRV{n:02d}")
    kind = System.Kind.SERVER
