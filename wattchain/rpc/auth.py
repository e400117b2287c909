"""RPC authentication as Bitcoin Core does it: HTTP Basic with a cookie or a configured user.

By default (no ``rpcpassword``) a fresh random cookie ``__cookie__:<64 hex>`` is written to
``<datadir>/.cookie`` with mode 0600 at startup and deleted at shutdown; local clients
(``wattchain-cli``, python-bitcoinlib) read it. ``rpcuser``/``rpcpassword`` add a fixed
credential and, as in Core, switch the cookie off. Credentials are compared with
:func:`hmac.compare_digest` so response timing does not reveal how much of a guess matched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from pathlib import Path

COOKIE_FILE = ".cookie"
COOKIE_USER = "__cookie__"


class AuthSetupError(Exception):
    """The cookie file could not be written (e.g. the datadir is not writable)."""


def write_cookie(datadir: str | Path) -> tuple[Path, str]:
    """Write a new cookie atomically (temp file, 0600, rename); returns (path, "user:pass")."""
    path = Path(datadir) / COOKIE_FILE
    tmp = path.with_name(COOKIE_FILE + ".tmp")
    credential = f"{COOKIE_USER}:{secrets.token_hex(32)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(credential)
        os.replace(tmp, path)
    except OSError as exc:
        raise AuthSetupError(f"unable to write the RPC cookie {path}: {exc}") from exc
    return path, credential


def read_cookie(datadir: str | Path) -> str:
    """The "user:pass" stored in ``<datadir>/.cookie`` (what clients send)."""
    return (Path(datadir) / COOKIE_FILE).read_text().strip()


class RpcAuth:
    """Accepted credentials of one server; owns the cookie file it wrote."""

    def __init__(self, credentials: list[str], cookie_path: Path | None = None) -> None:
        self._credentials = [c.encode() for c in credentials]
        self.cookie_path = cookie_path

    @classmethod
    def setup(cls, datadir: str | Path | None, rpcuser: str | None = None,
              rpcpassword: str | None = None) -> "RpcAuth":
        """Core's InitRPCAuthentication: cookie unless a password is configured."""
        credentials = []
        cookie_path = None
        if rpcpassword:
            credentials.append(f"{rpcuser or ''}:{rpcpassword}")
        else:
            if datadir is None:
                raise AuthSetupError("no rpcpassword and no datadir for a cookie")
            cookie_path, credential = write_cookie(datadir)
            credentials.append(credential)
        return cls(credentials, cookie_path)

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries an accepted credential."""
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        ok = False
        for credential in self._credentials:
            ok |= hmac.compare_digest(given, credential)
        return ok

    def cleanup(self) -> None:
        """Delete the cookie this server wrote (shutdown)."""
        if self.cookie_path is not None:
            try:
                self.cookie_path.unlink()
            except FileNotFoundError:
                pass
            self.cookie_path = None
