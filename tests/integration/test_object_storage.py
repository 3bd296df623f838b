"""Recordings, exports and anchors on S3, spoken to over HTTP: an S3-compatible server
(moto in server mode) runs beside the tests."""
import pytest

from app import storage as storage_module
from app.storage import S3Storage
from tests.conftest import _free_port, s3_server_process


def test_a_missing_object_a_network_error_and_a_permission_error_are_told_apart(s3_server, s3_credentials):
    storage = S3Storage(s3_server.bucket(), s3_server.url)
    storage.put("recordings/ab/abc.oga", b"OggS", "audio/ogg")
    assert storage.get("recordings/ab/abc.oga") == b"OggS"
    assert storage.exists("recordings/ab/abc.oga") and not storage.exists("recordings/ab/none.oga")
    with pytest.raises(storage_module.ObjectMissing):
        storage.get("recordings/ab/none.oga")
    nobody_listens = S3Storage("any-bucket", f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(storage_module.StorageUnavailable):
        nobody_listens.exists("recordings/ab/abc.oga")
    with pytest.raises(storage_module.StorageUnavailable):
        nobody_listens.get("recordings/ab/abc.oga")


@pytest.fixture(scope="module")
def s3_with_access_control():
    """A second S3 server that checks every request against its IAM users: the first
    four requests (an admin user, its key and policy, a bucket) are let through."""
    with s3_server_process(INITIAL_NO_AUTH_ACTION_COUNT="4") as server:
        import boto3

        iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName="ops")
        key = iam.create_access_key(UserName="ops")["AccessKey"]
        iam.put_user_policy(UserName="ops", PolicyName="all", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'))
        ops = server.client(key["AccessKeyId"], key["SecretAccessKey"])
        ops.create_bucket(Bucket="guarded")
        ops.put_object(Bucket="guarded", Key="recordings/x.oga", Body=b"x")
        iam_ops = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                               aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        iam_ops.create_user(UserName="stranger")
        stranger = iam_ops.create_access_key(UserName="stranger")["AccessKey"]
        yield server, stranger


def test_a_caller_without_permission_is_told_so_not_that_the_object_is_missing(s3_with_access_control):
    server, stranger = s3_with_access_control
    storage = S3Storage("guarded", server.url, client=server.client(stranger["AccessKeyId"],
                                                                    stranger["SecretAccessKey"]))
    with pytest.raises(storage_module.StoragePermissionDenied):
        storage.get("recordings/x.oga")
    with pytest.raises(storage_module.StoragePermissionDenied):
        storage.exists("recordings/x.oga")
