import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_otp.oath import TOTP

from accounts import services
from accounts.models import BackupCodeDevice, TotpDevice
from accounts.services import MfaMethod
from config.errors import InvalidRequest
from tests.factories import UserFactory


def code_for(device: TotpDevice, *, at=None) -> str:
    totp = TOTP(device.secret(), step=device.step, digits=device.digits)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():06d}"


@pytest.fixture
def enrolled(db):
    """A user who enrolled through the service, with their backup codes."""
    user = UserFactory(mfa=False)
    device = services.totp_enrolment_start(actor=user)
    _, codes = services.totp_enrolment_confirm(actor=user, code=code_for(device))
    device.refresh_from_db()
    return user, device, codes


def test_enrolment_confirms_device_and_issues_ten_backup_codes(enrolled):
    user, device, codes = enrolled
    assert device.confirmed
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert BackupCodeDevice.objects.get(user=user).remaining_count() == 10


def test_enrolment_with_wrong_code_is_refused_and_device_stays_pending(db):
    user = UserFactory(mfa=False)
    device = services.totp_enrolment_start(actor=user)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidRequest):
        services.totp_enrolment_confirm(actor=user, code=wrong)
    device.refresh_from_db()
    assert not device.confirmed


def test_second_enrolment_is_refused_while_an_authenticator_exists(enrolled):
    user, _, _ = enrolled
    with pytest.raises(InvalidRequest):
        services.totp_enrolment_start(actor=user)


def test_current_totp_code_is_accepted(enrolled):
    user, device, _ = enrolled
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=60), tick=False):
        assert services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=code_for(device))


def test_replayed_totp_code_is_refused(enrolled):
    user, device, _ = enrolled
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=60), tick=False):
        code = code_for(device)
        services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=code)
        with pytest.raises(InvalidRequest, match="not valid"):
            services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=code)


def test_wrong_totp_code_is_refused_with_generic_message(enrolled):
    user, device, _ = enrolled
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=60), tick=False):
        wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
        with pytest.raises(InvalidRequest) as error:
            services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=wrong)
    assert error.value.message == "That code is not valid."


def test_code_from_two_steps_ago_is_refused(enrolled):
    user, device, _ = enrolled
    now = timezone.now() + timezone.timedelta(seconds=120)
    old = code_for(device, at=now - timezone.timedelta(seconds=75))
    with time_machine.travel(now, tick=False), pytest.raises(InvalidRequest):
        services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=old)


def test_backup_code_works_once(enrolled):
    user, _, codes = enrolled
    assert services.mfa_verify(actor=user, method=MfaMethod.BACKUP_CODE, code=codes[0])
    later = timezone.now() + timezone.timedelta(seconds=10)
    with time_machine.travel(later, tick=False), pytest.raises(InvalidRequest):
        services.mfa_verify(actor=user, method=MfaMethod.BACKUP_CODE, code=codes[0])
    assert BackupCodeDevice.objects.get(user=user).remaining_count() == 9


def test_backup_code_is_accepted_in_any_case_and_without_dash(enrolled):
    user, _, codes = enrolled
    assert services.mfa_verify(
        actor=user, method=MfaMethod.BACKUP_CODE, code=codes[1].replace("-", "").lower()
    )


def test_backup_code_is_not_accepted_as_totp_code(enrolled):
    user, _, codes = enrolled
    with pytest.raises(InvalidRequest):
        services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=codes[0])


def test_totp_failures_never_throttle_backup_codes(enrolled):
    """Verification goes to the chosen device only (django-otp#110)."""
    user, _, codes = enrolled
    for _ in range(5):
        with pytest.raises(InvalidRequest):
            services.mfa_verify(actor=user, method=MfaMethod.TOTP, code="000000")
    assert TotpDevice.objects.get(user=user).throttling_failure_count >= 1
    assert BackupCodeDevice.objects.get(user=user).throttling_failure_count == 0
    assert services.mfa_verify(actor=user, method=MfaMethod.BACKUP_CODE, code=codes[2])


def test_repeated_wrong_codes_throttle_even_a_right_code(enrolled):
    user, device, _ = enrolled
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=60), tick=False):
        for _ in range(4):
            with pytest.raises(InvalidRequest):
                services.mfa_verify(actor=user, method=MfaMethod.TOTP, code="000000")
        with pytest.raises(InvalidRequest):
            services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=code_for(device))


def test_regenerated_backup_codes_replace_the_old_ones(enrolled):
    user, _, old_codes = enrolled
    new_codes = services.backup_codes_regenerate(actor=user)
    with pytest.raises(InvalidRequest):
        services.mfa_verify(actor=user, method=MfaMethod.BACKUP_CODE, code=old_codes[3])
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=5), tick=False):
        assert services.mfa_verify(actor=user, method=MfaMethod.BACKUP_CODE, code=new_codes[0])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_same_totp_code_submitted_concurrently_succeeds_once():
    user = UserFactory(mfa=False)
    device = services.totp_enrolment_start(actor=user)
    services.totp_enrolment_confirm(actor=user, code=code_for(device))
    later = timezone.now() + timezone.timedelta(seconds=60)
    code = code_for(device, at=later)
    results = []

    def attempt():
        try:
            with time_machine.travel(later, tick=False):
                services.mfa_verify(actor=user, method=MfaMethod.TOTP, code=code)
            results.append(True)
        except InvalidRequest:
            results.append(False)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
