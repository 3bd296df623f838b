"""Recordings are kept in a local folder, or in S3-compatible storage when configured."""
import pytest

from app.storage import LocalStorage, S3Storage


def test_the_local_folder_keeps_files_whole_under_their_key(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("recordings/ab/abcdef.oga", b"OggS-data", "audio/ogg")
    assert storage.get("recordings/ab/abcdef.oga") == b"OggS-data"
    assert storage.exists("recordings/ab/abcdef.oga")
    assert [p.name for p in (tmp_path / "recordings" / "ab").iterdir()] == ["abcdef.oga"]


def test_a_key_cannot_escape_the_storage_folder(tmp_path):
    with pytest.raises(ValueError):
        LocalStorage(tmp_path / "store").put("../../etc/passwd", b"x", "text/plain")


class FakeS3:
    """Stands in for a boto3 S3 client: the calls S3Storage makes, kept in a dict."""

    def __init__(self):
        self.objects = {}

    def put_object(self, Bucket, Key, Body, ContentType):
        self.objects[(Bucket, Key)] = (Body, ContentType)

    def get_object(self, Bucket, Key):
        import io

        return {"Body": io.BytesIO(self.objects[(Bucket, Key)][0])}

    def head_object(self, Bucket, Key):
        if (Bucket, Key) not in self.objects:
            raise KeyError(Key)


def test_s3_storage_puts_and_gets_objects_in_its_bucket():
    client = FakeS3()
    storage = S3Storage("recordings-bucket", client=client)
    storage.put("recordings/ab/ab.oga", b"audio", "audio/ogg")
    assert client.objects[("recordings-bucket", "recordings/ab/ab.oga")] == (b"audio", "audio/ogg")
    assert storage.get("recordings/ab/ab.oga") == b"audio"
    assert storage.exists("recordings/ab/ab.oga") and not storage.exists("missing")
