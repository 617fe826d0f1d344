"""The embedded auth provider: Supabase Auth's behaviour on our own tables, for `make run` and tests."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import LocalOneTimeToken, LocalRefreshToken, LocalUser
from services import clock, tokens
from services.auth import AuthSession, SignUpResult, auth_error, normalize_email, password_problem


def local_jwt_secret(secret_key: str) -> str:
    """The local provider's HS256 key, derived so it is never the cookie-signing key itself."""
    return hmac.new(secret_key.encode(), b"startline local auth tokens", hashlib.sha256).hexdigest()


EmailSender = Callable[[str, str, str], None]  # (kind, to, link)
LOCAL_ISSUER = "startline-local-auth"  # the `iss` of the local provider's access tokens


class LocalAuth:
    """Supabase Auth's behaviour, on our own tables: for `make run` and tests with no Supabase."""

    ACCESS_TTL = timedelta(hours=1)
    LINK_TTL = timedelta(hours=1)
    REUSE_INTERVAL = timedelta(seconds=10)  # as GoTrue: parallel requests may present the same token

    def __init__(self, session: Session, *, jwt_secret: str, issuer: str, autoconfirm: bool,
                 send_email: EmailSender):
        self.db, self.secret, self.issuer = session, jwt_secret, issuer
        self.autoconfirm, self.send_email = autoconfirm, send_email

    # sessions
    def _access_token(self, user: LocalUser, session_id: uuid.UUID) -> str:
        now = clock.now()
        claims = {
            "iss": self.issuer, "sub": str(user.id), "aud": "authenticated", "role": "authenticated",
            "iat": int(now.timestamp()), "exp": int((now + self.ACCESS_TTL).timestamp()),
            "email": user.email, "phone": "", "session_id": str(session_id), "aal": "aal1",
            "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"full_name": user.full_name}, "is_anonymous": False,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256", headers={"typ": "JWT"})

    def _new_refresh_token(self, user: LocalUser, session_id: uuid.UUID) -> str:
        token = tokens.new_token()
        self.db.add(LocalRefreshToken(token_hash=tokens.token_hash(token), user_id=user.id, session_id=session_id))
        return token

    def _start_session(self, user: LocalUser) -> AuthSession:
        session_id = uuid.uuid4()
        refresh = self._new_refresh_token(user, session_id)
        self.db.commit()
        return AuthSession(self._access_token(user, session_id), refresh)

    def _user_by_email(self, email: str) -> LocalUser | None:
        return self.db.scalar(select(LocalUser).where(LocalUser.email == normalize_email(email)))

    def _send_link(self, user: LocalUser, kind: str, redirect_to: str) -> None:
        token = tokens.new_token()
        self.db.add(LocalOneTimeToken(token_hash=tokens.token_hash(token), user_id=user.id, kind=kind,
                                      expires_at=clock.now() + self.LINK_TTL))
        link_type = "email" if kind == "signup" else kind
        separator = "&" if "?" in redirect_to else "?"
        self.send_email(kind, user.email, f"{redirect_to}{separator}token_hash={token}&type={link_type}")

    # the interface
    def sign_up(self, email, password, *, full_name, redirect_to):
        email = normalize_email(email)
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            raise auth_error("email_address_invalid") from exc
        if password_problem(password, email):
            raise auth_error("weak_password")
        user = self._user_by_email(email)
        if user is not None and user.email_confirmed_at is not None:
            raise auth_error("user_already_exists")
        if user is None:
            user = LocalUser(email=email, full_name=full_name, password_hash=generate_password_hash(password))
            self.db.add(user)
            self.db.flush()
        if self.autoconfirm:
            user.email_confirmed_at = clock.now()
            return SignUpResult(self._start_session(user))
        self._send_link(user, "signup", redirect_to)
        self.db.commit()
        return SignUpResult(None)

    def sign_in(self, email, password):
        user = self._user_by_email(email)
        # Hash even for unknown emails, so response time doesn't reveal who has an account.
        stored = user.password_hash if user else _DUMMY_HASH
        if not check_password_hash(stored, password) or user is None:
            raise auth_error("invalid_credentials")
        if user.email_confirmed_at is None:
            raise auth_error("email_not_confirmed")
        return self._start_session(user)

    def refresh(self, refresh_token):
        now = clock.now()
        row = self.db.scalar(select(LocalRefreshToken).where(LocalRefreshToken.token_hash == tokens.token_hash(refresh_token))
                             .with_for_update())
        if row is None:
            raise auth_error("refresh_token_not_found")
        user = self.db.get(LocalUser, row.user_id)
        if row.revoked or user is None:
            raise auth_error("refresh_token_already_used")
        if row.rotated_at is not None:
            if now - row.rotated_at > self.REUSE_INTERVAL:
                # A stolen token replayed after its owner moved on: end the whole session.
                self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.session_id == row.session_id)
                                .values(revoked=True))
                self.db.commit()
                raise auth_error("refresh_token_already_used")
        row.rotated_at = row.rotated_at or now
        refresh = self._new_refresh_token(user, row.session_id)
        self.db.commit()
        return AuthSession(self._access_token(user, row.session_id), refresh)

    def verify_email_link(self, token_hash, link_type):
        kind = link_type if link_type in ("recovery", "magiclink") else "signup"
        row = self.db.scalar(select(LocalOneTimeToken).where(LocalOneTimeToken.token_hash == tokens.token_hash(token_hash),
                                                             LocalOneTimeToken.kind == kind).with_for_update())
        now = clock.now()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise auth_error("otp_expired")
        row.used_at = now
        user = self.db.get(LocalUser, row.user_id)
        if kind == "magiclink" and user.email_confirmed_at is None:
            # Whoever set this never-confirmed account's password did not own the address (its owner only
            # now proves it): that password must not open the account the link confirms.
            user.password_hash = generate_password_hash(secrets.token_urlsafe(32))
        user.email_confirmed_at = user.email_confirmed_at or now
        return self._start_session(user)

    def send_password_reset(self, email, *, redirect_to):
        user = self._user_by_email(email)
        if user is not None:  # silent either way: the form must not reveal who has an account
            self._send_link(user, "recovery", redirect_to)
            self.db.commit()

    def send_magic_link(self, email, *, redirect_to):
        """A one-time sign-in link; an address with no account gets one, as GoTrue's /otp does, with a
        random password nobody knows (a password reset sets a real one)."""
        email = normalize_email(email)
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            raise auth_error("email_address_invalid") from exc
        user = self._user_by_email(email)
        if user is None:
            user = LocalUser(email=email, password_hash=generate_password_hash(secrets.token_urlsafe(32)))
            self.db.add(user)
            self.db.flush()
        self._send_link(user, "magiclink", redirect_to)
        self.db.commit()

    def update_password(self, session, password):
        claims = jwt.decode(session.access_token, self.secret, algorithms=["HS256"], audience="authenticated")
        user = self.db.get(LocalUser, uuid.UUID(claims["sub"]))
        if user is None:
            raise auth_error("session_not_found")
        if password_problem(password, user.email):
            raise auth_error("weak_password")
        if check_password_hash(user.password_hash, password):
            raise auth_error("same_password")
        user.password_hash = generate_password_hash(password)
        # Like Supabase: a new password ends every other session of this user.
        self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.user_id == user.id,
                                                        LocalRefreshToken.session_id != uuid.UUID(claims["session_id"]))
                        .values(revoked=True))
        self.db.commit()
        return session

    def sign_out(self, access_token):
        try:
            claims = jwt.decode(access_token, self.secret, algorithms=["HS256"], audience="authenticated",
                                options={"verify_exp": False})
        except jwt.InvalidTokenError:
            return
        self.db.execute(update(LocalRefreshToken).where(LocalRefreshToken.session_id == uuid.UUID(claims["session_id"]))
                        .values(revoked=True))
        self.db.commit()


_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))

