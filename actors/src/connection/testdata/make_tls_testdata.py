#!/usr/bin/env python3
"""Makes the PEM files the unit tests of connection/tls.rs use (throw-away keys, test only):
a CA (v3); server certificates, v3 (SAN localhost) and v1; client certificates signed by the CA
in X.509 version 1, as kazoo's harness makes them (rustls' webpki rejects v1, Java and OpenSSL
accept it), with RSA and with ECDSA keys; a v3 client certificate; an expired v1 client
certificate; a v1 client certificate from another CA, and one that names our CA as issuer but
is signed by the other CA's key. Valid for 100 years.

    python3 make_tls_testdata.py DIR     (needs the `cryptography` package)
"""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
CENTURY = datetime.timedelta(days=36500)


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(*pairs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def cert(subject, key, issuer, issuer_key, serial, v1=False, ca=False, not_after=None, dns=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(NOW - datetime.timedelta(days=1))
         .not_valid_after(not_after or NOW + CENTURY))
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
    c = b.sign(issuer_key, hashes.SHA256())
    if v1:
        # cryptography only writes v3; a v1 certificate is one without the version field and
        # without extensions, re-signed: build it from the TBS bytes by hand.
        c = make_v1(c, issuer_key)
    return c


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_items(data):
    """Split the content of a SEQUENCE into its TLVs."""
    out, i = [], 0
    while i < len(data):
        start = i
        i += 1
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        i += n
        out.append(data[start:i])
    return out


def content_of(tlv):
    n = tlv[1]
    if n & 0x80:
        return tlv[2 + (n & 0x7F):]
    return tlv[2:]


def make_v1(c, issuer_key):
    tbs = c.tbs_certificate_bytes
    items = der_items(content_of(tbs))
    # [0] version, serial, sigalg, issuer, validity, subject, spki, [3] extensions
    assert items[0][0] == 0xA0
    items = [i for i in items[1:] if i[0] != 0xA3]
    new_tbs = der_tlv(0x30, b"".join(items))
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding
        sig = issuer_key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = issuer_key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    sigalg = items[1]
    der = der_tlv(0x30, new_tbs + sigalg + der_tlv(0x03, b"\x00" + sig))
    v1 = x509.load_der_x509_certificate(der)
    assert v1.version == x509.Version.v1
    return v1


def pem_cert(c):
    return c.public_bytes(serialization.Encoding.PEM)


def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def main(out):
    os.makedirs(out, exist_ok=True)
    files = {}
    ca_key, other_ca_key = rsa_key(), rsa_key()
    ca_name = name((NameOID.COMMON_NAME, "zkr test CA"))
    ca = cert(ca_name, ca_key, ca_name, ca_key, 1, ca=True)
    other_name = name((NameOID.COMMON_NAME, "another CA"))
    files["ca.pem"] = pem_cert(ca)
    server_key = rsa_key()
    files["server-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "localhost")),
                                             server_key, ca_name, ca_key, 2, dns="localhost"))
    files["server-key.pem"] = pem_key(server_key)
    k = rsa_key()
    files["server-v1-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "localhost")), k,
                                                ca_name, ca_key, 8, v1=True))
    files["server-v1-key.pem"] = pem_key(k)
    subject = name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Acme, Inc."),
                   (NameOID.COMMON_NAME, "client"))
    k = rsa_key()
    files["client-v1-cert.pem"] = pem_cert(cert(subject, k, ca_name, ca_key, 3, v1=True))
    files["client-v1-key.pem"] = pem_key(k)
    k = ec.generate_private_key(ec.SECP256R1())
    files["client-v1-ec-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "ec-client")), k,
                                                   ca_name, ca_key, 4, v1=True))
    files["client-v1-ec-key.pem"] = pem_key(k)
    k = rsa_key()
    files["client-v3-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "v3-client")), k,
                                                ca_name, ca_key, 5))
    files["client-v3-key.pem"] = pem_key(k)
    k = rsa_key()
    files["client-expired-cert.pem"] = pem_cert(cert(
        name((NameOID.COMMON_NAME, "expired")), k, ca_name, ca_key, 6, v1=True,
        not_after=NOW))
    files["client-expired-key.pem"] = pem_key(k)
    k = rsa_key()
    files["client-other-ca-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "stranger")), k,
                                                      other_name, other_ca_key, 7, v1=True))
    files["client-other-ca-key.pem"] = pem_key(k)
    k = rsa_key()
    files["client-forged-cert.pem"] = pem_cert(cert(name((NameOID.COMMON_NAME, "forger")), k,
                                                    ca_name, other_ca_key, 9, v1=True))
    files["client-forged-key.pem"] = pem_key(k)
    for n, data in files.items():
        with open(os.path.join(out, n), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
