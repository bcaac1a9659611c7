"""Curator sign-in: argon2 password hashes in the data folder, signed session cookies, CSRF tokens.

Passwords live in `<data>/passwords/<project>.json` (0600, atomic writes), never under `curated/`
(git). The cookie carries only a signed random session id; the session itself (curator, CSRF token)
lives in this process, so signing out really ends it and a restart signs everyone out.
"""

from __future__ import annotations

import json
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
LOGIN_TOKEN_MAX_AGE = 3600
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
# Verifying an unknown name against this keeps its timing close to a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


def _write_private(path: Path, text: str) -> None:
    """Secrets (password hashes, the session key): owner-only folder and file, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, text, mode=0o600)


def _check_slug(value: str, what: str) -> str:
    if not (is_slug(value) or is_curator_id(value)):  # a project or a curator
        raise InputError(f"{what} {value!r} is not a safe id (a-z, 0-9, '-', '_')")
    return value


class PasswordStore:
    """argon2id hashes (salted per hash) for one project's curators."""

    def __init__(self, data_dir: Path, project: str) -> None:
        self.path = Path(data_dir) / "passwords" / f"{_check_slug(project, 'project')}.json"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
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
        data = self._load()
        data[curator] = _hasher.hash(password)
        _write_private(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def has_password(self, curator: str) -> bool:
        return curator in self._load()

    def verify(self, curator: str, password: str) -> bool:
        stored = self._load().get(curator)
        try:
            return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


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


class Sessions:
    """Signed cookie ↔ in-process session table."""

    def __init__(self, key: str) -> None:
        self._cookie = URLSafeTimedSerializer(key, salt="litgrade-session")
        self._login = URLSafeTimedSerializer(key, salt="litgrade-login")
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, curator: str) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(32), curator, secrets.token_urlsafe(32), time.time())
        with self._lock:
            self._sessions[session.sid] = session
        return session, self._cookie.dumps(session.sid)

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

    def login_token(self) -> str:
        """A signed, expiring token for the sign-in form (there is no session to bind to yet)."""
        return self._login.dumps(secrets.token_hex(8))

    def check_login_token(self, token: str | None) -> bool:
        if not token:
            return False
        try:
            self._login.loads(token, max_age=LOGIN_TOKEN_MAX_AGE)
        except BadSignature:
            return False
        return True


def csrf_ok(session: Session, supplied: str | None) -> bool:
    return bool(supplied) and secrets.compare_digest(session.csrf, supplied or "")
