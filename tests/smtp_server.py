"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, in a thread of the test process.

    with SmtpServer() as smtp:                      # or the `smtp_server` fixture
        app.config.update(smtp.settings())
        ...
        message = smtp.wait_for(1)[0]               # an email.message.EmailMessage

It can offer STARTTLS or implicit TLS with a throwaway certificate made here, answer a chosen
code to the next N recipients (421 then accept; 550), and hold a transaction until the test
lets it go (to kill a worker mid-send).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day: (certificate, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SMTP server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        import asyncio

        server = self.server
        with server.lock:
            server.held_now += 1
        server.rcpt_seen.set()
        try:
            while server.hold.is_set():  # the test keeps the transaction open
                await asyncio.sleep(0.05)
        finally:
            with server.lock:
                server.held_now -= 1
        with server.lock:
            if address.lower() in server.refused_addresses:
                code = server.refused_addresses[address.lower()]
                server.refused.append((address, code))
                return f"{code} {REPLIES.get(code, 'Refused')}"
            if server.refusals:
                code, remaining = server.refusals[0]
                if remaining <= 1:
                    server.refusals.pop(0)
                else:
                    server.refusals[0] = (code, remaining - 1)
                server.refused.append((address, code))
                return f"{code} {REPLIES.get(code, 'Refused')}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


REPLIES = {421: "Service not available, try again later", 550: "No such user here"}


class SmtpServer:
    """aiosmtpd in a thread. `tls`: None, "starttls" or "ssl" (with a throwaway certificate)."""

    def __init__(self, tls: str | None = None, folder: Path | None = None) -> None:
        self.port = _free_port()
        self.tls = tls
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusals: list[tuple[int, int]] = []
        self.refused: list[tuple[str, int]] = []
        self.refused_addresses: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.rcpt_seen = threading.Event()
        self.held_now = 0  # transactions waiting in RCPT while `hold` is set
        self.cert_file: Path | None = None
        options = {}
        if tls:
            import tempfile

            folder = folder or Path(tempfile.mkdtemp(prefix="smtp-tls-"))
            self.cert_file, key_file = make_certificate(folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            options = {"tls_context": context} if tls == "starttls" else {"ssl_context": context}
        self._options = options
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **options
        )

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.hold.clear()
        self.controller.stop()

    def go_down(self) -> None:
        """Stop listening, as a server that is down: connections are refused."""
        self.controller.stop()

    def come_back(self) -> None:
        """Listen again on the same port, keeping what was received."""
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **self._options
        )
        self.controller.start()

    def settings(self) -> dict:
        """The blog's mail settings for this server."""
        settings = {
            "MAIL_HOST": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_SECURITY": self.tls or "none",
            "MAIL_FROM": "blog@example.org",
            "MAIL_TIMEOUT": 10,
        }
        if self.cert_file:
            settings["MAIL_CA_FILE"] = str(self.cert_file)
        return settings

    def refuse(self, address: str, code: int) -> None:
        """Answer `code` to every message for `address` from now on."""
        with self.lock:
            self.refused_addresses[address.lower()] = code

    def refuse_next(self, code: int, times: int = 1) -> None:
        """Answer `code` to the next `times` recipients (421: try later; 550: no such user)."""
        with self.lock:
            self.refusals.append((code, times))

    def wait_for(self, count: int, timeout: float = 20) -> list[email.message.EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} email(s), got {len(self.messages)}")

    def messages_to(self, address: str) -> list[email.message.EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]
