"""Test certificates for the local stack's secured broker, made with ``openssl``.

One certificate authority (``ca.pem``, ``ca.key``) per folder, and leaf certificates
signed by it (``NAME.pem``, ``NAME.key``) that serve both as a server certificate for
``localhost`` and 127.0.0.1 and as a client certificate whose principal is the common
name (the broker maps ``CN=NAME`` to ``User:NAME``). Keys are unencrypted PKCS#8 unless
a password is given. For tests and the local stack only: the keys are not protected.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DAYS = "30"
_EXTENSIONS = (
    "basicConstraints=CA:FALSE\n"
    "keyUsage=digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
)


class TlsError(Exception):
    """openssl is missing or failed; one line."""


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise TlsError("openssl not found: apt-get install openssl")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise TlsError(f"openssl {args[0]} failed in {cwd}: {detail}")


def certificate_authority(folder: Path, name: str = "berthwatch-local-ca") -> Path:
    """A self-signed CA in ``folder`` (made once); returns ``ca.pem``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = folder / "ca.pem"
    if not (ca.is_file() and (folder / "ca.key").is_file()):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                 "-out", "ca.pem", "-days", DAYS, "-subj", f"/CN={name}", cwd=folder)
    return ca


def leaf_certificate(folder: Path, name: str, password: str | None = None) -> tuple[Path, Path]:
    """A certificate for ``CN=name`` signed by the folder's CA (made once, with the CA if
    needed); returns (certificate, key). With ``password`` the key is encrypted."""
    certificate_authority(folder)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    if cert.is_file() and key.is_file():
        return cert, key
    (folder / f"{name}.ext").write_text(_EXTENSIONS)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.plain.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", DAYS,
             "-extfile", f"{name}.ext", cwd=folder)
    if password is None:
        (folder / f"{name}.plain.key").rename(key)
    else:
        _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", f"{name}.plain.key",
                 "-out", key.name, "-passout", f"pass:{password}", cwd=folder)
        (folder / f"{name}.plain.key").unlink()
    for leftover in (f"{name}.csr", f"{name}.ext"):
        (folder / leftover).unlink(missing_ok=True)
    key.chmod(0o600)
    return cert, key
