"""Download the Spark connector jars of pinpipe.versions into the image (build time only).

Into pinpipe.spark.connector_jar_dir(), where the session builder looks for them, each
checked against the SHA-1 that Maven Central publishes beside it.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request

from pinpipe.spark import connector_jar_dir
from pinpipe.versions import SPARK_CONNECTOR_JARS

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


def url(group: str, artifact: str, version: str) -> str:
    return f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def fetch(address: str) -> bytes:
    with urllib.request.urlopen(address, timeout=120) as response:
        return response.read()


def main() -> int:
    dest = connector_jar_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for group, artifact, version in SPARK_CONNECTOR_JARS:
        address = url(group, artifact, version)
        jar = fetch(address)
        expected = fetch(address + ".sha1").decode().split()[0].strip()
        actual = hashlib.sha1(jar).hexdigest()  # noqa: S324 - Maven Central publishes SHA-1
        if actual != expected:
            print(f"checksum mismatch for {address}: {actual} != {expected}", file=sys.stderr)
            return 1
        (dest / f"{artifact}-{version}.jar").write_bytes(jar)
        print(f"{artifact}-{version}.jar ({len(jar) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
