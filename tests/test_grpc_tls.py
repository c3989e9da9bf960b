"""TLS with a self-signed certificate made here."""
import datetime
import ipaddress

import numpy as np
import pytest

import vecstore
from vecstore import errors as E
from vecstore.rpc.server import TlsFiles

from conftest import serving


def self_signed() -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vecstore test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TlsFiles(
        cert_chain=cert.public_bytes(serialization.Encoding.PEM),
        private_key=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
    )


@pytest.fixture(scope="module")
def tls_files():
    return self_signed()


def test_tls_round_trip_with_api_key(tmp_path, tls_files):
    cert_path = tmp_path / "ca.pem"
    cert_path.write_bytes(tls_files.cert_chain)
    with serving(tmp_path / "db", tls=tls_files, api_keys=["k"]) as address:
        for trusted in (tls_files.cert_chain, str(cert_path)):  # PEM bytes or a file path
            with vecstore.connect(address, api_key="k", root_certificates=trusted) as client:
                name = f"docs{len(client.list_collections())}"
                col = client.create_collection(name, dim=4, quantization="none")
                col.upsert([7], np.ones((1, 4)))
                assert col.get([7]).vectors.tolist() == [[1.0] * 4]


def test_plaintext_or_untrusted_clients_cannot_talk_to_a_tls_server(tmp_path, tls_files):
    with serving(tmp_path / "db", tls=tls_files) as address:
        with vecstore.connect(address, timeout=10) as plaintext:
            with pytest.raises(E.UnavailableError):
                plaintext.list_collections()
        with vecstore.connect(address, tls=True, timeout=10) as untrusted:  # system roots only
            with pytest.raises(E.UnavailableError):
                untrusted.list_collections()
        other = self_signed()  # a different certificate is not the server's
        with vecstore.connect(address, root_certificates=other.cert_chain, timeout=10) as wrong:
            with pytest.raises(E.UnavailableError):
                wrong.list_collections()
