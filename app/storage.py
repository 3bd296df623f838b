"""Where recordings and photos are kept: a local folder by default, or S3-compatible
object storage when ``S3_BUCKET`` is configured. Objects are named by their SHA-256,
so storing the same file twice keeps one copy."""
import os
import shutil
import tempfile
from pathlib import Path

from flask import current_app

CHUNK = 1 << 20


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
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves half a file under the final name.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            write(handle)
            temporary = handle.name
        os.replace(temporary, path)

    def put(self, key, data, content_type):
        self._write(key, lambda handle: handle.write(data))

    def put_file(self, key, source, content_type):
        """Keep the file at ``source`` (a temporary file of the caller's) under ``key``."""
        def copy(handle):
            with open(source, "rb") as src:
                shutil.copyfileobj(src, handle, CHUNK)

        self._write(key, copy)

    def get(self, key):
        return self._path(key).read_bytes()

    def open(self, key):
        """A binary file object to read the object from, a chunk at a time."""
        return self._path(key).open("rb")

    def exists(self, key):
        return self._path(key).exists()


class S3Storage:
    """S3-compatible storage through boto3 (installed only where it is configured)."""

    def __init__(self, bucket, endpoint_url=None, client=None):
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client, self.bucket = client, bucket

    def put(self, key, data, content_type):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key, source, content_type):
        self.client.upload_file(str(source), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def open(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]

    def exists(self, key):
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception:  # boto3 raises ClientError for a missing key
            return False


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
