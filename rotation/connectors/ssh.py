"""Linux local account passwords over SSH (ecosystem.md 4.6), with paramiko.

The server's host key is pinned on the target ("ssh-ed25519 AAAA…", confirmed by a person
on the target page) and every connection uses it with RejectPolicy: a server that offers any
other key is refused with both fingerprints in the message, never trusted on first use.
Agent and ~/.ssh keys are never consulted; the privileged credential's secret is its
password or its private key.

The new password reaches `/usr/sbin/chpasswd` on stdin as "user:password\\n", never on a
command line (argv shows in `ps` and in shell history). A privileged account other than root
runs it through sudo, whose rule should allow exactly /usr/sbin/chpasswd. Messages are
matched in English, so commands run with LC_ALL=C.
"""

import base64
import binascii
import hashlib
import io
import re
import shlex
import socket

import paramiko
from django.views.decorators.debug import sensitive_variables

from rotation.connectors.base import ConnectorError, Endpoint

CHPASSWD = "/usr/sbin/chpasswd"
COMMAND_TIMEOUT = 30
# Portable POSIX user names: nothing a shell or chpasswd's "user:password" line could misread.
USERNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
FORBIDDEN_IN_PASSWORD = ("\n", "\r", "\0")
PRIVATE_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
HOST_KEY_EXAMPLE = "“ssh-ed25519 AAAA…”"
NOT_RSA_HOST_KEYS = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
]

SUDO_WRONG_PASSWORD = ("incorrect password attempt", "sorry, try again")
SUDO_NOT_ALLOWED = ("is not allowed to execute", "may not run sudo", "is not in the sudoers file")
SUDO_NEEDS_PASSWORD = "a password is required"  # noqa: S105 (sudo's message)


def _where(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def _fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint: base64 of the key blob's digest, without padding."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def _key_blob(host_key: str) -> tuple[str, bytes]:
    """The type and raw blob of a "type base64 [comment]" line; ConnectorError if malformed."""
    parts = host_key.strip().split(maxsplit=2)
    if len(parts) < 2:
        raise ConnectorError(
            f"The host key must be an OpenSSH public key line such as {HOST_KEY_EXAMPLE}: "
            "the key type, a space, then the key."
        )
    key_type, encoded = parts[0], parts[1]
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConnectorError(
            f"The host key is not valid: the part after “{key_type[:40]}” is not base64."
        ) from None
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else 0
    if blob[4 : 4 + length].decode("ascii", "replace") != key_type:
        raise ConnectorError(f"The host key is not valid: its data is not a “{key_type[:40]}” key.")
    return key_type, blob


def host_key_fingerprint(host_key: str) -> str:
    """The "SHA256:…" fingerprint of a host key line, as `ssh-keygen -l` prints it."""
    _, blob = _key_blob(host_key)
    return _fingerprint(blob)


def _pinned_key(endpoint: Endpoint) -> paramiko.PKey:
    if not endpoint.host_key.strip():
        raise ConnectorError(
            f"No host key is pinned for the SSH server at {_where(endpoint)}: fetch its key "
            "and confirm it on the target page first."
        )
    key_type, blob = _key_blob(endpoint.host_key)
    try:
        return paramiko.PKey.from_type_string(key_type, blob)
    except (paramiko.SSHException, ValueError, TypeError):
        raise ConnectorError(
            f"The host key type “{key_type[:40]}” is not supported; pin the server's "
            "ssh-ed25519 key."
        ) from None


@sensitive_variables("secret")
def _private_key(secret: str) -> paramiko.PKey:
    """The privileged credential's private key (OpenSSH or PEM, without a passphrase)."""
    for key_class in PRIVATE_KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(secret.strip() + "\n"))
        except paramiko.PasswordRequiredException:
            raise ConnectorError(
                "The privileged private key is protected by a passphrase; store the key "
                "without one (the vault encrypts it)."
            ) from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise ConnectorError(
        "The privileged secret looks like a private key but is not an ed25519, ECDSA or "
        "RSA key Keyhold can read."
    )


def _is_key(secret: str) -> bool:
    return secret.lstrip().startswith("-----BEGIN")


def _no_handshake(error: paramiko.SSHException) -> bool:
    # paramiko's wording when the peer stays silent past the banner or handshake timeout.
    text = str(error).lower()
    return "banner" in text or "no existing session" in text


def _unreachable(endpoint: Endpoint, error: OSError) -> ConnectorError:
    """The plain reason a TCP connection failed: no such name, no answer, or refused."""
    where = _where(endpoint)
    if isinstance(error, socket.gaierror):
        return ConnectorError(
            f"Keyhold could not find the host “{endpoint.host}”: the name does not resolve."
        )
    if isinstance(error, TimeoutError):
        return ConnectorError(
            f"Keyhold could not reach the SSH server at {where}: the connection timed out "
            "(check the host, the port and the firewall)."
        )
    return ConnectorError(
        f"Keyhold could not reach the SSH server at {where}: nothing answered there "
        "(the connection was refused; check the host, the port and the firewall)."
    )


def _not_ssh(endpoint: Endpoint) -> ConnectorError:
    return ConnectorError(
        f"Something accepted the connection at {_where(endpoint)} but did not answer as an "
        f"SSH server within {endpoint.connect_timeout} seconds."
    )


def _known_hosts_name(endpoint: Endpoint) -> str:
    # paramiko looks keys up as known_hosts names them.
    if endpoint.port == 22:
        return endpoint.host
    return f"[{endpoint.host}]:{endpoint.port}"


@sensitive_variables("secret", "key")
def _connect(endpoint: Endpoint, *, username: str, secret: str, who: str) -> paramiko.SSHClient:
    """A logged-in client, or a ConnectorError saying in plain words why not (never the secret).

    `who` names the secret in messages: "privileged" or "new".
    """
    pinned = _pinned_key(endpoint)
    key = _private_key(secret) if _is_key(secret) else None
    method = "key" if key is not None else "password"
    where = _where(endpoint)
    timeout = endpoint.connect_timeout
    # paramiko puts the pinned type first, but for "ssh-rsa" that means SHA-1 signatures,
    # which OpenSSH 8.8+ refuses: it would then settle on another type and call it a change.
    disabled = {"keys": NOT_RSA_HOST_KEYS} if pinned.get_name() == "ssh-rsa" else {}
    client = paramiko.SSHClient()
    client.get_host_keys().add(_known_hosts_name(endpoint), pinned.get_name(), pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            hostname=endpoint.host,
            port=endpoint.port,
            username=username,
            password=None if key is not None else secret,
            pkey=key,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
            disabled_algorithms=disabled,
        )
    except paramiko.BadHostKeyException as error:
        client.close()
        raise ConnectorError(
            f"The host key of {where} changed ({_fingerprint(error.expected_key.asbytes())} "
            f"expected, {_fingerprint(error.key.asbytes())} offered); if the server was "
            "rebuilt, confirm its new key on the target page."
        ) from None
    except paramiko.BadAuthenticationType as error:
        client.close()
        offered = ", ".join(error.allowed_types) or "nothing"
        message = (
            f"The SSH server at {where} does not accept {method} logins for “{username}” "
            f"(it offers: {offered})."
        )
        if who == "new":
            message += (
                " Keyhold cannot verify the new password by logging in; allow "
                "PasswordAuthentication for this account and retry the rotation."
            )
        raise ConnectorError(message) from None
    except paramiko.AuthenticationException:
        client.close()
        raise ConnectorError(
            f"The SSH server at {where} refused the login of “{username}”: the {who} "
            f"{method} was refused."
        ) from None
    except paramiko.SSHException as error:
        client.close()
        if "no acceptable host key" in str(error).lower():
            raise ConnectorError(
                f"The host key of {where} changed ({_fingerprint(pinned.asbytes())} expected, "
                f"no {pinned.get_name()} key offered); if the server was rebuilt, confirm its "
                "new key on the target page."
            ) from None
        if _no_handshake(error):
            raise _not_ssh(endpoint) from None
        raise ConnectorError(
            f"The SSH connection to {where} failed ({type(error).__name__})."
        ) from None
    except OSError as error:
        client.close()
        raise _unreachable(endpoint, error) from None
    return client


@sensitive_variables("stdin")
def _run(
    client: paramiko.SSHClient, endpoint: Endpoint, command: str, *, stdin: str = ""
) -> tuple[int, str, str]:
    """Run one command; secrets go on its stdin. Returns (exit status, stdout, stderr)."""
    try:
        channel = client.get_transport().open_session(timeout=endpoint.connect_timeout)
        channel.settimeout(COMMAND_TIMEOUT)
        channel.exec_command(command)
        try:
            if stdin:
                channel.sendall(stdin.encode("utf-8"))
            channel.shutdown_write()
        except OSError:
            pass  # It ended before reading its input; its exit status says why.
        out = channel.makefile("rb").read().decode("utf-8", "replace")
        err = channel.makefile_stderr("rb").read().decode("utf-8", "replace")
        if not channel.status_event.wait(COMMAND_TIMEOUT):
            raise TimeoutError
        return channel.recv_exit_status(), out, err
    except TimeoutError:
        raise ConnectorError(
            f"A command on the SSH server at {_where(endpoint)} did not finish within "
            f"{COMMAND_TIMEOUT} seconds."
        ) from None
    except paramiko.SSHException as error:
        raise ConnectorError(
            f"The SSH server at {_where(endpoint)} would not run a command "
            f"({type(error).__name__})."
        ) from None


@sensitive_variables("secrets")
def _said(stderr: str, *secrets: str) -> str:
    """The target's first meaningful message line, shortened, with any secret blanked out."""
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("chpasswd:", "sudo:", "sorry, try again")):
            for secret in secrets:
                if secret:
                    line = line.replace(secret, "…")
            return line[:160]
    return ""


def _sudo_refusal(endpoint: Endpoint, status: int, stderr: str, *, by_key: bool) -> str | None:
    """The plain reason sudo refused, or None when sudo itself did not refuse."""
    text = stderr.lower()
    where = _where(endpoint)
    if status == 127 and "sudo" in text:
        return f"sudo is not installed on the SSH server at {where}."
    if any(phrase in text for phrase in SUDO_WRONG_PASSWORD):
        return (
            f"sudo on the SSH server at {where} refused the privileged password (is sudo set "
            "to ask for another account's password, with rootpw or targetpw?)."
        )
    if "must have a tty" in text:
        return (
            f"sudo on the SSH server at {where} insists on a terminal (Defaults requiretty); "
            "exempt the privileged account with “Defaults:<account> !requiretty”."
        )
    if any(phrase in text for phrase in SUDO_NOT_ALLOWED):
        return (
            f"The privileged account may not run chpasswd with sudo on the SSH server at "
            f"{where} (it needs a sudoers rule for {CHPASSWD})."
        )
    if SUDO_NEEDS_PASSWORD in text and by_key:
        return (
            f"The privileged account logs in by key, so sudo on the SSH server at {where} must "
            f"allow {CHPASSWD} without a password (NOPASSWD)."
        )
    return None


@sensitive_variables("secrets")
def _chpasswd_failure(
    endpoint: Endpoint, username: str, stderr: str, *, secrets: tuple[str, ...]
) -> ConnectorError:
    text = stderr.lower()
    where = _where(endpoint)
    if "pam_chauthtok" in text or "authentication token manipulation error" in text:
        said = _said(stderr, *secrets)
        detail = f" ({said})" if said else ""
        return ConnectorError(
            f"The new password for “{username}” was refused by the system's password policy "
            f"on the SSH server at {where}{detail}."
        )
    said = _said(stderr, *secrets)
    return ConnectorError(
        f"chpasswd on the SSH server at {where} did not change the password of “{username}”"
        + (f": {said}" if said else ".")
    )


@sensitive_variables("new_secret")
def _refuse_bad_input(username: str, new_secret: str) -> None:
    if not USERNAME.fullmatch(username or ""):
        raise ConnectorError(
            "This credential's username is not a Linux account name (letters, digits, “_”, "
            "“.” and “-”, at most 32, not starting with “-” or a digit)."
        )
    if any(character in new_secret for character in FORBIDDEN_IN_PASSWORD):
        raise ConnectorError("A Linux password cannot contain a line break or a NUL character.")


def _as_root(client: paramiko.SSHClient, endpoint: Endpoint) -> bool:
    status, out, _ = _run(client, endpoint, "id -u")
    return status == 0 and out.strip() == "0"


def _has_account(client: paramiko.SSHClient, endpoint: Endpoint, username: str) -> bool:
    # chpasswd reports an unknown account as a PAM failure, like a policy refusal.
    status, _, _ = _run(client, endpoint, f"getent passwd {shlex.quote(username)}")
    return status == 0


@sensitive_variables("privileged_secret", "line")
def _sudo_chpasswd(
    client: paramiko.SSHClient,
    endpoint: Endpoint,
    *,
    privileged_secret: str,
    line: str,
    by_key: bool,
) -> tuple[int, str]:
    """chpasswd through sudo; the sudo password goes first on stdin only when sudo asks.

    A NOPASSWD rule is tried first (`-n` never reads stdin). Otherwise the password is
    proven with `sudo -v` alone before it precedes the account line: a wrong one would
    make sudo read the account line as its second try.
    """
    status, _, err = _run(client, endpoint, f"env LC_ALL=C sudo -n {CHPASSWD}", stdin=line)
    if status == 0 or by_key or SUDO_NEEDS_PASSWORD not in err.lower():
        return status, err
    status, _, err = _run(
        client, endpoint, "env LC_ALL=C sudo -k -S -p '' -v", stdin=privileged_secret + "\n"
    )
    if status != 0:
        return status, err
    status, _, err = _run(
        client,
        endpoint,
        f"env LC_ALL=C sudo -k -S -p '' {CHPASSWD}",
        stdin=privileged_secret + "\n" + line,
    )
    return status, err


class SshConnector:
    kind = "ssh"
    label = "Linux local account over SSH"
    default_port = 22
    needs = ("host_key",)
    required = ("host_key",)
    privileged_help = (
        "root with an SSH key, or an account whose sudoers rule allows exactly "
        f"{CHPASSWD} (with its password, or NOPASSWD when it logs in by key). The secret is "
        "its password or its private key."
    )

    @sensitive_variables("privileged_secret")
    def check(
        self, endpoint: Endpoint, *, privileged_username: str, privileged_secret: str
    ) -> None:
        by_key = _is_key(privileged_secret)
        client = _connect(
            endpoint, username=privileged_username, secret=privileged_secret, who="privileged"
        )
        with client:
            if _as_root(client, endpoint):
                return
            if by_key:
                command, stdin = f"env LC_ALL=C sudo -n -l {CHPASSWD}", ""
            else:
                command = f"env LC_ALL=C sudo -k -S -p '' -l {CHPASSWD}"
                stdin = privileged_secret + "\n"
            status, _, err = _run(client, endpoint, command, stdin=stdin)
        if status == 0:
            return
        refusal = _sudo_refusal(endpoint, status, err, by_key=by_key)
        raise ConnectorError(
            refusal
            or f"The privileged account may not run chpasswd with sudo on the SSH server at "
            f"{_where(endpoint)} (it needs a sudoers rule for {CHPASSWD})."
        )

    @sensitive_variables("privileged_secret", "new_secret", "line")
    def apply(
        self,
        endpoint: Endpoint,
        *,
        privileged_username: str,
        privileged_secret: str,
        username: str,
        new_secret: str,
    ) -> None:
        _refuse_bad_input(username, new_secret)
        by_key = _is_key(privileged_secret)
        secrets = (new_secret, privileged_secret)
        line = f"{username}:{new_secret}\n"
        client = _connect(
            endpoint, username=privileged_username, secret=privileged_secret, who="privileged"
        )
        with client:
            if not _has_account(client, endpoint, username):
                raise ConnectorError(
                    f"The SSH server at {_where(endpoint)} has no such account “{username}”."
                )
            if _as_root(client, endpoint):
                status, _, err = _run(client, endpoint, f"env LC_ALL=C {CHPASSWD}", stdin=line)
            else:
                status, err = _sudo_chpasswd(
                    client, endpoint, privileged_secret=privileged_secret, line=line, by_key=by_key
                )
        if status != 0:
            refusal = _sudo_refusal(endpoint, status, err, by_key=by_key)
            if refusal:
                raise ConnectorError(refusal)
            raise _chpasswd_failure(endpoint, username, err, secrets=secrets)

    @sensitive_variables("new_secret")
    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        client = _connect(endpoint, username=username, secret=new_secret, who="new")
        client.close()


def host_key_fetch(*, host: str, port: int, timeout: int = 10) -> str:
    """The server's host key as "ssh-ed25519 AAAA…" (ed25519 preferred), without logging in.

    The caller shows its fingerprint to a person, who confirms it before it is pinned.
    """
    endpoint = Endpoint(host=host, port=port, connect_timeout=timeout)
    where = _where(endpoint)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise _unreachable(endpoint, error) from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        options = transport.get_security_options()
        others = [name for name in options.key_types if name != "ssh-ed25519"]
        options.key_types = ["ssh-ed25519", *others]
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except paramiko.SSHException as error:
        if _no_handshake(error):
            raise _not_ssh(endpoint) from None
        raise ConnectorError(
            f"Keyhold could not read the host key of {where} ({type(error).__name__})."
        ) from None
    except (OSError, EOFError):
        raise ConnectorError(
            f"The SSH server at {where} closed the connection before showing its host key."
        ) from None
    finally:
        transport.close()
    return f"{key.get_name()} {key.get_base64()}"
