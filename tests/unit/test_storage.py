"""Recordings are kept in a local folder, or in S3-compatible storage when configured
(S3 is tested over HTTP in tests/integration/test_object_storage.py)."""

import pytest

from app.storage import LocalStorage, ObjectMissing


def test_the_local_folder_keeps_files_whole_under_their_key(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("recordings/ab/abcdef.oga", b"OggS-data", "audio/ogg")
    assert storage.get("recordings/ab/abcdef.oga") == b"OggS-data"
    assert storage.exists("recordings/ab/abcdef.oga")
    assert [p.name for p in (tmp_path / "recordings" / "ab").iterdir()] == ["abcdef.oga"]


def test_a_key_cannot_escape_the_storage_folder(tmp_path):
    with pytest.raises(ValueError):
        LocalStorage(tmp_path / "store").put("../../etc/passwd", b"x", "text/plain")


def test_a_missing_file_is_missing_and_a_deleted_one_is_gone(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(ObjectMissing):
        storage.get("recordings/none.oga")
    assert not storage.exists("recordings/none.oga")
    storage.put("recordings/x.oga", b"x", "audio/ogg")
    storage.delete("recordings/x.oga")
    storage.delete("recordings/x.oga")  # already gone: not an error
    assert not storage.exists("recordings/x.oga")
