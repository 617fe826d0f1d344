"""Where uploaded files live: local disk (the embedded default) or a Supabase Storage bucket."""
from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from flask import Flask
from flask_babel import gettext as _

log = logging.getLogger(__name__)

# Keys are ours ("races/12/<uuid>.webp"), never a user's file name: plain segments only,
# none starting with a dot, so "..", absolute paths and backslashes cannot get through.
_KEY_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}")
CACHE_SECONDS = 365 * 24 * 3600  # keys are never reused for other content, so caches may keep them


class StorageError(RuntimeError):
    """The storage backend failed; the message can be shown to the person uploading."""

    def __init__(self, message: str | None = None):
        super().__init__(message or _("The image couldn't be saved just now. Please try again in a moment."))


def is_valid_key(key: str) -> bool:
    return isinstance(key, str) and ".." not in key and _KEY_RE.fullmatch(key) is not None


def check_key(key: str) -> str:
    if not is_valid_key(key):
        raise ValueError(f"not a valid storage key: {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def url(self, key: str) -> str: ...


class LocalStorage:
    """Files under `root` (instance/media/ by default), served by the site's /media/<key> route."""

    def __init__(self, root: str | os.PathLike, base_url: str = "/media"):
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # Belt and braces: the key rules already keep paths inside root, symlinks aside.
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the media folder: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename, so a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.exception("local storage: could not write %s", key)
            raise StorageError() from exc

    def get(self, key: str) -> bytes:
        """The stored bytes; FileNotFoundError when there is no such object."""
        path = self.path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError() from exc

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            log.exception("local storage: could not delete %s", key)
            raise StorageError() from exc

    def url(self, key: str) -> str:
        return f"{self.base_url}/{quote(check_key(key))}"


class SupabaseStorage:
    """Objects in a Supabase Storage bucket, through the real `supabase` client.

    The bucket must be public for `url()` to work in a browser. The client is built on first
    use and then kept: it carries only the secret key, never a user's session, so it is safe to
    share between requests (unlike the per-request auth clients).
    """

    def __init__(self, url: str, service_key: str, bucket: str):
        if not url or not service_key:
            raise RuntimeError("STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY.")
        self.supabase_url = url.rstrip("/")
        self.service_key = service_key
        self.bucket = bucket
        self._client = None
        self._lock = threading.Lock()

    def _bucket(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # ~0.4 s to import: paid only by deployments that store media on Supabase.
                    from supabase import ClientOptions, create_client

                    self._client = create_client(self.supabase_url, self.service_key,
                                                 ClientOptions(auto_refresh_token=False, persist_session=False))
        return self._client.storage.from_(self.bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        options = {"content-type": content_type, "upsert": "true", "cache-control": str(CACHE_SECONDS)}
        try:
            self._bucket().upload(key, data, options)
        except Exception as exc:  # StorageApiError, httpx transport errors and timeouts
            log.exception("supabase storage: could not upload %s to bucket %s", key, self.bucket)
            raise StorageError() from exc

    def get(self, key: str) -> bytes:
        check_key(key)
        try:
            return self._bucket().download(key)
        except Exception as exc:
            if str(getattr(exc, "status", "")) == "404":  # Storage puts the real status in the body
                raise FileNotFoundError(key) from exc
            raise StorageError() from exc

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            # Storage answers 200 for paths that are already gone, which is what we want.
            self._bucket().remove([key])
        except Exception as exc:
            log.exception("supabase storage: could not delete %s from bucket %s", key, self.bucket)
            raise StorageError() from exc

    def url(self, key: str) -> str:
        return self._bucket().get_public_url(check_key(key))


def storage_for(app: Flask) -> LocalStorage | SupabaseStorage:
    """The app's storage, chosen by STORAGE ("local" or "supabase") and built once per app."""
    storage = app.extensions.get("startline.storage")
    if storage is None:
        kind = (app.config.get("STORAGE") or "local").lower()
        if kind == "local":
            # MEDIA_ROOT is an override for tests; deployments keep media in instance/media/.
            storage = LocalStorage(app.config.get("MEDIA_ROOT") or Path(app.instance_path) / "media")
        elif kind == "supabase":
            storage = SupabaseStorage(app.config.get("SUPABASE_URL", ""), app.config.get("SUPABASE_SECRET_KEY", ""),
                                      app.config.get("SUPABASE_MEDIA_BUCKET") or "race-media")
        else:
            raise RuntimeError(f"STORAGE must be 'local' or 'supabase', not {kind!r}.")
        app.extensions["startline.storage"] = storage
    return storage
