# boto3 against the object store (run by boto3_interop_test.ts): buckets,
# puts with each checksum this botocore can send, a multipart upload_file and
# download_file, GetObjectAttributes, CopyObject, UploadPartCopy with a
# range, a paginated listing, a presigned GET, NoSuchKey, DeleteObjects.
# Usage: python3 boto3_client.py ENDPOINT BUCKET
import hashlib, os, sys, tempfile, urllib.request
import boto3, botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="underhood", aws_secret_access_key="underhood-secret-key",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
print("botocore", botocore.__version__)
b = sys.argv[2]
s3.create_bucket(Bucket=b)
assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
s3.put_object(Bucket=b, Key="hello.txt", Body=b"hello from boto3\n", ContentType="text/plain",
              Metadata={"colour": "blue"})
got = s3.get_object(Bucket=b, Key="hello.txt")
assert got["Body"].read() == b"hello from boto3\n"
assert got["Metadata"] == {"colour": "blue"}, got["Metadata"]
sums = 0
for algorithm in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]:
    try:
        r = s3.put_object(Bucket=b, Key="sum-" + algorithm, Body=b"x" * 1000, ChecksumAlgorithm=algorithm)
    except (botocore.exceptions.MissingDependencyException, botocore.exceptions.ParamValidationError,
            botocore.exceptions.FlexibleChecksumError):
        continue  # CRC32C and CRC64NVME need botocore[crt]; old botocore lacks CRC64NVME
    sums += 1
    h = s3.head_object(Bucket=b, Key="sum-" + algorithm, ChecksumMode="ENABLED")
    assert h.get("Checksum" + algorithm) == r.get("Checksum" + algorithm), (algorithm, h, r)
work = tempfile.mkdtemp()
big = os.path.join(work, "big.bin")
with open(big, "wb") as f:
    f.write(bytes(range(256)) * (12 * 1024 * 4 + 7))
config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file(big, b, "dir/big.bin", Config=config)
head = s3.head_object(Bucket=b, Key="dir/big.bin")
assert head["ETag"].endswith('-3"'), head["ETag"]
back = os.path.join(work, "big.back")
s3.download_file(b, "dir/big.bin", back, Config=config)
assert open(back, "rb").read() == open(big, "rb").read()
attrs = s3.get_object_attributes(Bucket=b, Key="dir/big.bin", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"])
assert attrs["ObjectSize"] == os.path.getsize(big), attrs
assert attrs["ObjectParts"]["TotalPartsCount"] == 3, attrs
s3.copy_object(Bucket=b, Key="copy.txt", CopySource={"Bucket": b, "Key": "hello.txt"})
# A managed copy past the threshold: UploadPartCopy with ranges.
s3.copy({"Bucket": b, "Key": "dir/big.bin"}, b, "big-copy.bin", Config=config)
copied = s3.head_object(Bucket=b, Key="big-copy.bin")
assert copied["ETag"].endswith('-3"') and copied["ContentLength"] == os.path.getsize(big), copied
assert s3.get_object(Bucket=b, Key="big-copy.bin")["Body"].read() == open(big, "rb").read()
mpu = s3.create_multipart_upload(Bucket=b, Key="joined.bin")
part = s3.upload_part_copy(Bucket=b, Key="joined.bin", UploadId=mpu["UploadId"], PartNumber=1,
                           CopySource={"Bucket": b, "Key": "hello.txt"}, CopySourceRange="bytes=0-4")
s3.complete_multipart_upload(Bucket=b, Key="joined.bin", UploadId=mpu["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
assert s3.get_object(Bucket=b, Key="joined.bin")["Body"].read() == b"hello"
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, PaginationConfig={"PageSize": 2}):
    keys += [o["Key"] for o in page.get("Contents", [])]
assert keys == sorted(keys) and "dir/big.bin" in keys and len(keys) == 5 + sums, keys
url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "hello.txt"}, ExpiresIn=60)
assert urllib.request.urlopen(url).read() == b"hello from boto3\n"
try:
    s3.get_object(Bucket=b, Key="missing")
    raise AssertionError("no error")
except s3.exceptions.NoSuchKey:
    pass
r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys]})
assert len(r["Deleted"]) == len(keys), r
s3.delete_bucket(Bucket=b)
print("ok")
