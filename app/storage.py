"""Where recordings, photos and exports are kept: a local folder by default, or
S3-compatible object storage when ``S3_BUCKET`` is configured. Objects are named by
their SHA-256, so storing the same file twice keeps one copy.

Failures are told apart, never all "missing": ``ObjectMissing`` (no such object: 404),
``StorageUnavailable`` (the store cannot be reached or answers with a server error:
503) and ``StoragePermissionDenied`` (the store refuses this service's credentials:
503, for the operator to fix). Each is a ``DomainError``, so a request that meets one
answers with the error envelope.
"""

import os
import shutil
import tempfile
from pathlib import Path

from flask import current_app

from app.errors import NotFound, ServiceUnavailable

CHUNK = 1 << 20


class StorageError(ServiceUnavailable):
    code = "storage_unavailable"


class StorageUnavailable(StorageError):
    """The store did not answer (network, timeout) or failed on its side."""


class StoragePermissionDenied(StorageError):
    """The store refused this service's credentials for this object or bucket."""

    code = "storage_refused"


class ObjectMissing(NotFound):
    """No object under that key."""

    code = "object_missing"


class LocalStorage:
    def __init__(self, root):
        self.root = Path(root)

    def _path(self, key):
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage folder")
        return path

    def _write(self, key, write):
        path = self._path(key)
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves half a file under the final name.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                temporary = handle.name
                write(handle)
            os.replace(temporary, path)
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise _local_error(exc, key) from exc

    def put(self, key, data, content_type):
        self._write(key, lambda handle: handle.write(data))

    def put_file(self, key, source, content_type):
        """Keep the file at ``source`` (a temporary file of the caller's) under ``key``."""

        def copy(handle):
            with open(source, "rb") as src:
                shutil.copyfileobj(src, handle, CHUNK)

        self._write(key, copy)

    def get(self, key):
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise _local_error(exc, key) from exc

    def open(self, key):
        """A binary file object to read the object from, a chunk at a time."""
        try:
            return self._path(key).open("rb")
        except OSError as exc:
            raise _local_error(exc, key) from exc

    def open_range(self, key, start):
        """A binary file object positioned at byte ``start`` (the caller reads what it needs)."""
        handle = self.open(key)
        try:
            handle.seek(start)
        except OSError as exc:
            handle.close()
            raise _local_error(exc, key) from exc
        return handle

    def exists(self, key):
        try:
            self._path(key).stat()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _local_error(exc, key) from exc

    def delete(self, key):
        """Remove the object; one already gone is not an error."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _local_error(exc, key) from exc


def _local_error(exc, key):
    if isinstance(exc, FileNotFoundError):
        return ObjectMissing(f"No stored object {key!r}.")
    if isinstance(exc, PermissionError):
        return StoragePermissionDenied(f"The storage folder refused access to {key!r}.")
    return StorageUnavailable(f"The storage folder could not be used ({exc.strerror or type(exc).__name__}).")


# S3 error codes, by what they mean for the caller.
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_REFUSED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidToken",
    "ExpiredToken",
    "InvalidObjectState",
}


def s3_error(exc, key):
    """The storage error an exception from boto3 stands for."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            return ObjectMissing(f"No stored object {key!r}.")
        if code in _REFUSED:
            return StoragePermissionDenied(f"Object storage refused access to {key!r} ({code}).")
        if code == "NoSuchBucket":
            return StorageUnavailable("The configured bucket does not exist.")
        return StorageUnavailable(f"Object storage failed ({code or 'an error'}).")
    if isinstance(exc, boto.NoCredentialsError):
        return StoragePermissionDenied("No credentials for object storage (AWS_ACCESS_KEY_ID and the like).")
    if isinstance(exc, (boto.EndpointConnectionError, boto.ConnectionError, boto.HTTPClientError)):
        return StorageUnavailable("Object storage could not be reached.")
    return None


def s3_client(endpoint_url=None):
    import boto3
    from botocore.config import Config

    # Short connect timeout and few retries: an unreachable store is reported in seconds.
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    )


class S3Storage:
    """S3-compatible storage through boto3, over HTTP(S)."""

    def __init__(self, bucket, endpoint_url=None, client=None):
        self.client, self.bucket = client or s3_client(endpoint_url), bucket

    def _call(self, key, operation, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except Exception as exc:
            translated = s3_error(exc, key)
            if translated is None:
                raise
            raise translated from exc

    def put(self, key, data, content_type):
        self._call(key, self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key, source, content_type):
        from boto3.exceptions import S3UploadFailedError

        try:
            self._call(
                key, self.client.upload_file, str(source), self.bucket, key, ExtraArgs={"ContentType": content_type}
            )
        except S3UploadFailedError as exc:  # boto3 wraps the ClientError of a multipart upload
            cause = exc.__context__ or exc.__cause__
            translated = s3_error(cause, key) if cause is not None else None
            raise (translated or StorageUnavailable(f"Object storage refused the upload of {key!r}.")) from exc

    def get(self, key):
        body = self._call(key, self.client.get_object, Bucket=self.bucket, Key=key)["Body"]
        return self._call(key, body.read)

    def open(self, key):
        return self._call(key, self.client.get_object, Bucket=self.bucket, Key=key)["Body"]

    def open_range(self, key, start):
        """The object's body from byte ``start`` on (an S3 ranged GET)."""
        return self._call(key, self.client.get_object, Bucket=self.bucket, Key=key, Range=f"bytes={start}-")["Body"]

    def exists(self, key):
        try:
            self._call(key, self.client.head_object, Bucket=self.bucket, Key=key)
            return True
        except ObjectMissing:
            return False

    def delete(self, key):
        """Remove the object (S3 answers success for one already gone)."""
        self._call(key, self.client.delete_object, Bucket=self.bucket, Key=key)


def current():
    storage = current_app.extensions.get("storage")
    if storage is None:
        config = current_app.config
        if config.get("S3_BUCKET"):
            storage = S3Storage(config["S3_BUCKET"], config.get("S3_ENDPOINT_URL"))
        else:
            storage = LocalStorage(config["STORAGE_DIR"])
        current_app.extensions["storage"] = storage
    return storage
