"""Curator sign-in: argon2 password hashes in the data folder, signed session cookies, CSRF tokens.

Passwords live in `<data>/passwords/<project>.json` (0600, atomic writes), never under `curated/`
(git). The cookie carries only a signed random session id; the session itself (curator, CSRF token)
lives in this process, so signing out really ends it and a restart signs everyone out. A session
remembers a fingerprint of the password hash it was opened with: once the password changes (in any
process: `litgrade curator passwd` rewrites the file), the session no longer opens anything.

The sign-in form's token is signed, expires after LOGIN_TOKEN_MAX_AGE, is bound to a random
browser id kept in the LOGIN_COOKIE cookie (so a token fetched by someone else is worthless in the
victim's browser: no login CSRF) and is accepted once.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from flows.atomic import write_atomic
from flows.errors import ConfigError, InputError
from flows.ids import is_curator_id, is_slug

SESSION_COOKIE = "litgrade_session"
SESSION_MAX_AGE = 12 * 3600
LOGIN_COOKIE = "litgrade_login"
LOGIN_TOKEN_MAX_AGE = 30 * 60
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
# Verifying an unknown name against this keeps its timing close to a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


def _write_private(path: Path, text: str) -> None:
    """Secrets (password hashes, the session key): owner-only folder and file, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, text, mode=0o600)


def _fingerprint(stored_hash: str) -> str:
    return hashlib.sha256(stored_hash.encode()).hexdigest()


def _check_slug(value: str, what: str) -> str:
    if not (is_slug(value) or is_curator_id(value)):  # a project or a curator
        raise InputError(f"{what} {value!r} is not a safe id (a-z, 0-9, '-', '_')")
    return value


class PasswordStore:
    """argon2id hashes (salted per hash) for one project's curators."""

    def __init__(self, data_dir: Path, project: str) -> None:
        self.path = Path(data_dir) / "passwords" / f"{_check_slug(project, 'project')}.json"
        # Every request checks its session's password fingerprint: the file is re-read only when
        # it changed (written atomically, so a change is a new inode, size or mtime).
        self._cached: tuple[tuple[int, int, int], dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"{self.path}: unreadable password file ({exc})") from None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._cached is not None and self._cached[0] == key:
                return self._cached[1]
        data = self._read()
        with self._lock:
            self._cached = (key, data)
        return data

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{self.path}: unreadable password file ({exc}); set the passwords again with "
                "`litgrade curator passwd NAME`"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(f"{self.path}: expected a JSON object of curator id → hash")
        return data

    def set_password(self, curator: str, password: str) -> None:
        _check_slug(curator, "curator")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InputError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
        data = dict(self._read() if self.path.exists() else {})
        data[curator] = _hasher.hash(password)
        _write_private(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def has_password(self, curator: str) -> bool:
        return curator in self._load()

    def fingerprint(self, curator: str) -> str | None:
        """Changes whenever the curator's password is set (argon2 salts every hash), even to the same one."""
        stored = self._load().get(curator)
        return _fingerprint(stored) if stored is not None else None

    def verify(self, curator: str, password: str) -> bool:
        return self.check(curator, password) is not None

    def check(self, curator: str, password: str) -> str | None:
        """The fingerprint of the curator's password hash when `password` matches it, else None."""
        stored = self._load().get(curator)
        try:
            ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return _fingerprint(stored) if ok and stored is not None else None


def secret_key(data_dir: Path) -> str:
    """The cookie-signing key: generated once into the data folder, reused across restarts."""
    path = Path(data_dir) / "web-secret.key"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ConfigError(f"{path}: signing key too short; delete the file and restart to make a new one")
    return key


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    curator: str
    csrf: str
    created: float
    password: str  # PasswordStore.fingerprint at sign-in


class Sessions:
    """Signed cookie ↔ in-process session table."""

    def __init__(self, key: str) -> None:
        self._cookie = URLSafeTimedSerializer(key, salt="litgrade-session")
        self._login = URLSafeTimedSerializer(key, salt="litgrade-login")
        self._sessions: dict[str, Session] = {}
        self._used_tokens: dict[str, float] = {}  # sign-in token nonce → when it expires anyway
        self._lock = threading.Lock()

    def start(self, curator: str, password: str) -> tuple[Session, str]:
        """A new session for `curator`, whose password fingerprint is `password`."""
        now = time.time()
        session = Session(secrets.token_urlsafe(32), curator, secrets.token_urlsafe(32), now, password)
        with self._lock:
            for sid in [s.sid for s in self._sessions.values() if s.created < now - SESSION_MAX_AGE]:
                del self._sessions[sid]  # their cookies have expired too
            self._sessions[session.sid] = session
        return session, self._cookie.dumps(session.sid)

    def current(self, cookie: str | None, passwords: PasswordStore) -> Session | None:
        """The cookie's session while its curator's password is the one it was opened with."""
        session = self.get(cookie)
        if session is None:
            return None
        if passwords.fingerprint(session.curator) != session.password:
            self.end_all(session.curator)
            return None
        return session

    def get(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            sid = self._cookie.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        with self._lock:
            return self._sessions.get(str(sid))

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.sid, None)

    def end_all(self, curator: str) -> int:
        """End every open session of `curator`; how many there were."""
        with self._lock:
            ended = [sid for sid, s in self._sessions.items() if s.curator == curator]
            for sid in ended:
                del self._sessions[sid]
        return len(ended)

    @staticmethod
    def new_browser_id() -> str:
        """The value of the LOGIN_COOKIE cookie the sign-in form's tokens are bound to."""
        return secrets.token_urlsafe(24)

    def login_token(self, browser: str) -> str:
        """A signed, expiring, single-use token for the sign-in form, valid only with `browser`'s cookie."""
        return self._login.dumps([browser, secrets.token_urlsafe(16)])

    def use_login_token(self, token: str | None, browser: str | None) -> bool:
        """True once for a token this server signed for this browser in the last LOGIN_TOKEN_MAX_AGE."""
        if not token or not browser:
            return False
        try:
            value = self._login.loads(token, max_age=LOGIN_TOKEN_MAX_AGE)
        except BadSignature:
            return False
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            return False
        bound, nonce = value
        if not secrets.compare_digest(bound, browser):
            return False
        now = time.monotonic()
        with self._lock:
            # Kept until they expire (a token older than that is refused by its signature's age);
            # inserted in expiry order, so the expired ones are at the front.
            while self._used_tokens and next(iter(self._used_tokens.values())) < now:
                del self._used_tokens[next(iter(self._used_tokens))]
            if nonce in self._used_tokens:
                return False
            self._used_tokens[nonce] = now + LOGIN_TOKEN_MAX_AGE + 1
        return True


def csrf_ok(session: Session, supplied: str | None) -> bool:
    return bool(supplied) and secrets.compare_digest(session.csrf, supplied or "")
