"""The SIEM feed against real local peers: an HTTP(S) collector and a UDP syslog socket."""

import datetime as dt
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from audit import services as audit
from audit import siem
from audit.export import EXPORT_FIELDS, event_record
from audit.models import AuditEvent, SiemCursor
from audit.services import Target
from audit.tasks import audit_siem_forward
from config.celery import app
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
SYSLOG_LINE = re.compile(
    r"<(?P<pri>\d+)>1 (?P<timestamp>\S+) (?P<host>\S+) keyhold - (?P<msgid>\S+) - (?P<msg>.*)",
    re.DOTALL,
)


class Collector(ThreadingHTTPServer):
    """A SIEM HTTP input: keeps each POSTed JSON body; can refuse or stall on demand."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CollectorHandler)
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.accept_limit: int | None = None
        self.first_request = threading.Event()
        self.stall: threading.Event | None = None

    def sequences(self) -> list[int]:
        return [body["sequence"] for body in self.received]


class CollectorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.first_request.set()
        if server.stall is not None:
            server.stall.wait(timeout=30)
        with server.lock:
            server.requests.append((self.path, self.headers["Content-Type"]))
            accepted = server.accept_limit is None or len(server.received) < server.accept_limit
            if accepted:
                server.received.append(json.loads(body))
        self.send_response(200 if accepted else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def collector(settings):
    server = Collector()
    serve(server)
    settings.AUDIT_SIEM_URL = f"http://127.0.0.1:{server.server_port}/ingest?source=keyhold"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def syslog_socket(settings):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    settings.AUDIT_SIEM_URL = f"syslog://127.0.0.1:{receiver.getsockname()[1]}"
    yield receiver
    receiver.close()


@pytest.fixture
def manager(db):
    return UserFactory(email="mona@msp.example", roles=["Manager"])


def record(actor, **kwargs) -> AuditEvent:
    with transaction.atomic():
        return audit.record(actor=actor, action=kwargs.pop("action", "staff.signed_in"), **kwargs)


def make_events(actor, count: int) -> list[int]:
    for number in range(count):
        record(actor, details={"number": number})
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))


def cursor() -> SiemCursor:
    return SiemCursor.objects.get(pk=1)


# --- HTTP --------------------------------------------------------------------------------


def test_every_event_arrives_once_in_order_as_the_export_record(collector, manager):
    sequences = make_events(manager, 7)
    message = siem.siem_forward(batch_size=3)
    assert "Sent 7 events" in message
    assert collector.sequences() == sequences
    assert collector.requests[0] == ("/ingest?source=keyhold", "application/json")
    expected = event_record(AuditEvent.objects.values_list(*EXPORT_FIELDS).get(pk=sequences[0]))
    assert collector.received[0] == expected
    assert set(collector.received[0]) == set(EXPORT_FIELDS)
    assert cursor().sequence == sequences[-1]
    assert cursor().delivered_at is not None
    assert "Sent 0 events" in siem.siem_forward()
    assert collector.sequences() == sequences


def test_new_events_follow_on_the_next_run(collector, manager):
    first = make_events(manager, 2)
    siem.siem_forward()
    record(manager, action="staff.signed_out")
    siem.siem_forward()
    assert collector.sequences() == [*first, first[-1] + 1]


def test_failure_mid_batch_keeps_the_cursor_and_the_next_run_resumes(collector, manager):
    sequences = make_events(manager, 7)
    collector.accept_limit = 3
    message = siem.siem_forward(batch_size=5)
    assert f"#{sequences[3]} was not delivered" in message
    assert "HTTP 503" in message
    assert collector.sequences() == sequences[:3]
    state = cursor()
    assert state.sequence == sequences[2]
    assert "HTTP 503" in state.last_error
    assert state.failing_since is not None
    assert state.leased_by == ""
    failing_since = state.failing_since

    siem.siem_forward(batch_size=5)
    assert cursor().failing_since == failing_since  # still the start of the outage

    collector.accept_limit = None
    assert "Sent 4 events" in siem.siem_forward(batch_size=5)
    assert collector.sequences() == sequences
    state = cursor()
    assert state.sequence == sequences[-1]
    assert state.last_error == ""
    assert state.failing_since is None


def test_unreachable_siem_sends_nothing_and_keeps_the_cursor(settings, manager):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings.AUDIT_SIEM_URL = f"http://127.0.0.1:{port}/"
    make_events(manager, 2)
    message = siem.siem_forward()
    assert "could not be reached" in message
    assert cursor().sequence == 0
    assert "ConnectionRefusedError" in cursor().last_error


def test_empty_url_is_a_no_op_that_says_so(settings, manager):
    settings.AUDIT_SIEM_URL = ""
    make_events(manager, 1)
    assert siem.siem_forward() == "SIEM forwarding is off: AUDIT_SIEM_URL is empty."
    assert not SiemCursor.objects.exists()


def test_a_forwarder_holding_the_lease_keeps_others_out_until_it_lapses(collector, manager):
    sequences = make_events(manager, 3)
    assert siem._lease_claim(holder="a-worker-that-died") == 0
    assert siem.siem_forward() == "Another forwarder holds the SIEM cursor; nothing sent."
    assert collector.received == []
    with time_machine.travel(timezone.now() + siem.LEASE + dt.timedelta(seconds=1)):
        assert "Sent 3 events" in siem.siem_forward()
    assert collector.sequences() == sequences


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_slow_siem_blocks_neither_actions_nor_lets_a_second_forwarder_send(collector):
    manager = UserFactory(roles=["Manager"])
    sequences = make_events(manager, 3)
    collector.stall = threading.Event()
    results = []

    def first_forwarder():
        try:
            results.append(siem.siem_forward())
        finally:
            connection.close()

    worker = threading.Thread(target=first_forwarder)
    worker.start()
    try:
        assert collector.first_request.wait(timeout=10)
        # The first forwarder waits on the SIEM holding no transaction: actions go on...
        started = time.monotonic()
        record(manager, action="staff.signed_out")
        assert time.monotonic() - started < 2
        # ...and a second forwarder finds the lease taken instead of sending the same events.
        assert siem.siem_forward() == "Another forwarder holds the SIEM cursor; nothing sent."
    finally:
        collector.stall.set()
        worker.join(timeout=30)
    assert "Sent 4 events" in results[0]
    assert collector.sequences() == [*sequences, sequences[-1] + 1]
    assert cursor().leased_by == ""


# --- HTTPS -------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "siem.crt", directory / "siem.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_collector(settings, tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    server = Collector()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    serve(server)
    settings.AUDIT_SIEM_URL = f"https://localhost:{server.server_port}/ingest"
    server.certificate = cert_path
    yield server
    server.shutdown()
    server.server_close()


def test_https_delivers_to_a_siem_whose_certificate_is_trusted(
    https_collector, manager, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(https_collector.certificate))
    sequences = make_events(manager, 2)
    assert "Sent 2 events" in siem.siem_forward()
    assert https_collector.sequences() == sequences


def test_https_refuses_a_siem_whose_certificate_is_not_trusted(https_collector, manager):
    make_events(manager, 2)
    message = siem.siem_forward()
    assert "could not be reached: SSLCertVerificationError" in message
    assert https_collector.received == []
    assert cursor().sequence == 0


# --- syslog ------------------------------------------------------------------------------


def receive(receiver: socket.socket, count: int) -> list[re.Match]:
    lines = []
    for _ in range(count):
        datagram = receiver.recv(65535)
        match = SYSLOG_LINE.fullmatch(datagram.decode("ascii"))
        assert match, datagram
        lines.append(match)
    return lines


def test_syslog_sends_one_rfc5424_message_per_event_in_order(syslog_socket, manager):
    sequences = make_events(manager, 3)
    record(manager, action="staff.sign_in_failed", outcome="denied", reason="wrong password")
    assert "Sent 4 events" in siem.siem_forward()
    lines = receive(syslog_socket, 4)
    bodies = [json.loads(line["msg"]) for line in lines]
    assert [body["sequence"] for body in bodies] == [*sequences, sequences[-1] + 1]
    # Facility 13 (log audit): informational for successes, warning for denials.
    assert [line["pri"] for line in lines] == ["110", "110", "110", "108"]
    assert [line["msgid"] for line in lines] == [*["staff.signed_in"] * 3, "staff.sign_in_failed"]
    assert lines[0]["timestamp"] == bodies[0]["occurred_at"]
    assert lines[0]["timestamp"].endswith("Z")
    assert cursor().sequence == sequences[-1] + 1


def test_syslog_message_of_a_huge_event_is_cut_to_fit_and_the_feed_goes_on(syslog_socket, manager):
    record(manager, reason="r" * 20_000, details={"blob": "d" * 20_000})
    record(manager, target=Target(type="x", id="1", label="next"))
    siem.siem_forward()
    huge, following = receive(syslog_socket, 2)
    body = json.loads(huge["msg"])
    assert len(huge.group(0)) <= siem.SYSLOG_MAX_BYTES
    assert body["truncated"] is True
    assert body["reason"] == "r" * siem.SYSLOG_FIELD_KEEP
    assert body["details"] == {}
    assert json.loads(following["msg"])["target_label"] == "next"


def test_hostile_strings_cannot_forge_a_second_syslog_line(syslog_socket, manager):
    hostile = "x\n<14>1 2025-01-01T00:00:00Z evil keyhold - forged - {}\u2028"
    record(manager, reason=hostile, target=Target(type="x", id="1", label=hostile))
    siem.siem_forward()
    (line,) = receive(syslog_socket, 1)
    assert "\n" not in line["msg"]
    assert json.loads(line["msg"])["target_label"] == hostile


# --- checkpoints -------------------------------------------------------------------------

CHECKPOINT = {
    "type": "checkpoint",
    "sequence": 42,
    "entry_hash": "a" * 64,
    "written_at": "2025-05-01T12:00:00+00:00",
    "signature": "b" * 64,
}


def test_checkpoint_goes_to_the_http_siem(collector):
    siem.siem_send_checkpoint(CHECKPOINT)
    assert collector.received == [CHECKPOINT]


def test_checkpoint_goes_to_syslog(syslog_socket):
    siem.siem_send_checkpoint(CHECKPOINT)
    (line,) = receive(syslog_socket, 1)
    assert line["msgid"] == "checkpoint"
    assert line["timestamp"] == "2025-05-01T12:00:00.000000Z"
    assert json.loads(line["msg"]) == CHECKPOINT


def test_checkpoint_refused_by_the_siem_raises(collector):
    collector.accept_limit = 0
    with pytest.raises(siem.SiemDeliveryError, match="HTTP 503"):
        siem.siem_send_checkpoint(CHECKPOINT)


def test_checkpoint_without_a_siem_does_nothing(collector, settings):
    settings.AUDIT_SIEM_URL = ""
    assert siem.siem_send_checkpoint(CHECKPOINT) is None
    assert collector.received == []


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://siem.example.net:8443/in?x=1", ("https", "siem.example.net", 8443, "/in?x=1")),
        ("https://siem.example.net", ("https", "siem.example.net", 443, "/")),
        ("http://127.0.0.1:8080/in", ("http", "127.0.0.1", 8080, "/in")),
        ("http://localhost/in", ("http", "localhost", 80, "/in")),
        ("http://[::1]:9000/", ("http", "::1", 9000, "/")),
        ("syslog://siem.example.net:5514", ("syslog", "siem.example.net", 5514, "")),
        ("syslog://10.0.0.5", ("syslog", "10.0.0.5", 514, "")),
    ],
)
def test_siem_url_is_used_as_configured(url, expected):
    target = siem.siem_target(url)
    assert (target.scheme, target.host, target.port, target.path) == expected
    assert target.describe() == f"{expected[0]}://{expected[1]}:{expected[2]}"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://siem.example.net/in", "only for a loopback host"),
        ("http://10.0.0.5/in", "only for a loopback host"),
        ("https://user:pass@siem.example.net/", "user name or password"),
        ("ftp://siem.example.net/", "must start with"),
        ("siem.example.net:514", "must start with"),
        ("https:///in", "names no host"),
        ("syslog://siem.example.net:port", "not a valid URL"),
    ],
)
def test_unusable_siem_url_fails_loudly(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        siem.siem_target(url)


def test_empty_siem_url_means_no_feed():
    assert siem.siem_target("  ") is None


# --- the Celery task ---------------------------------------------------------------------


def test_task_is_registered_under_the_name_beat_uses():
    assert "audit.tasks.audit_siem_forward" in app.tasks


def test_task_forwards_and_reports(collector, manager):
    sequences = make_events(manager, 2)
    assert "Sent 2 events" in audit_siem_forward.delay().get()
    assert collector.sequences() == sequences


def test_task_without_a_siem_says_so(settings):
    settings.AUDIT_SIEM_URL = ""
    assert audit_siem_forward.delay().get() == "SIEM forwarding is off: AUDIT_SIEM_URL is empty."


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_forwards_to_the_siem(collector, settings):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.fail("REDIS_URL is not set: scripts/test.sh starts Redis and sets it.")
    manager = UserFactory(roles=["Manager"])
    sequences = make_events(manager, 3)
    queue = f"keyhold-test-{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "KEYHOLD_TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        "AUDIT_SIEM_URL": settings.AUDIT_SIEM_URL,
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            *("-m", "celery", "-A", "config", "worker", "--pool=solo", "--queues", queue),
            *("--without-gossip", "--without-mingle", "--loglevel=WARNING"),
        ],
        cwd=ROOT,
        env=environment,
    )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        result = audit_siem_forward.apply_async(queue=queue)
        assert "Sent 3 events" in result.get(timeout=90)
    finally:
        app.conf.task_always_eager = previous
        worker.terminate()
        worker.wait(timeout=30)
    assert collector.sequences() == sequences
    assert cursor().sequence == sequences[-1]
