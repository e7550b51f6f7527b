"""Reads of a credential's secret history: its kept versions, as metadata only."""

import uuid

from django.db.models import QuerySet

from accounts.models import User
from config.errors import NotFound
from tenants.models import AccessLevel, Client
from vault.models import Credential, CredentialSecretVersion


def _visible_versions(actor: User) -> QuerySet[CredentialSecretVersion]:
    return CredentialSecretVersion.objects.filter(
        client__in=Client.objects.for_user(actor, AccessLevel.VIEW)
    )


def credential_version_list(
    *, actor: User, credential: Credential
) -> QuerySet[CredentialSecretVersion]:
    """The credential's previous secrets, newest first, without their sealed values.

    The caller reached `credential` through credential_get_for_user.
    """
    return (
        _visible_versions(actor)
        .filter(credential_id=credential.pk, client_id=credential.client_id)
        .select_related("created_by")
        .defer("secret")
        .order_by("-version")
    )


def credential_version_get(
    *, actor: User, credential: Credential, version_id: uuid.UUID | str
) -> CredentialSecretVersion:
    """One kept version of the credential; NotFound when missing, another's or not visible."""
    version = (
        credential_version_list(actor=actor, credential=credential).filter(pk=version_id).first()
    )
    if version is None:
        raise NotFound()
    return version
