"""Versions that must agree across the project, pinned in one place.

pyproject.toml pins pyspark to SPARK_VERSION; the connector jars below, the Spark image
(images/spark) and the local stack read them from here.
"""

# 4.1.1 rather than 4.0.x: Maven Central serves spark-token-provider-kafka-0-10 (needed by
# spark-sql-kafka) for 4.0.0 and 4.1.1 but not for the later 4.0.x patch releases.
SPARK_VERSION = "4.1.1"
SCALA_BINARY = "2.13"
# Spark 4.1.x is built against Hadoop 3.4.2; hadoop-aws must match it, and the AWS SDK
# bundle must be the one that hadoop-aws release was tested with.
HADOOP_VERSION = "3.4.2"
AWS_SDK_BUNDLE_VERSION = "2.29.52"
# The kafka-clients version spark-sql-kafka-0-10 4.1.1 is built with.
SPARK_KAFKA_CLIENTS_VERSION = "3.9.1"
COMMONS_POOL2_VERSION = "2.12.1"
POSTGRES_JDBC_VERSION = "42.7.7"

# Strimzi 0.45.2 runs Kafka 3.9.x with ZooKeeper 3.8.4: the local stack runs the same.
KAFKA_VERSION = "3.9.2"
ZOOKEEPER_VERSION = "3.8.4"

# MinIO publishes no semver tags; this is the pseudo-version the Go module proxy serves
# for the commit we build (go install github.com/minio/minio@<pin>).
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"

STRIMZI_VERSION = "0.45.2"
# Helm builds from source through the Go module proxy (pinpipe.devtools.helm).
HELM_VERSION = "v3.21.4"
SPARK_OPERATOR_VERSION = "v2.5.2"

# Connector jars passed to Spark with spark.jars: (group, artifact, version), no transitive
# resolution at run time.
SPARK_CONNECTOR_JARS: tuple[tuple[str, str, str], ...] = (
    ("org.apache.spark", f"spark-sql-kafka-0-10_{SCALA_BINARY}", SPARK_VERSION),
    ("org.apache.spark", f"spark-token-provider-kafka-0-10_{SCALA_BINARY}", SPARK_VERSION),
    ("org.apache.kafka", "kafka-clients", SPARK_KAFKA_CLIENTS_VERSION),
    ("org.apache.commons", "commons-pool2", COMMONS_POOL2_VERSION),
    ("org.apache.hadoop", "hadoop-aws", HADOOP_VERSION),
    ("software.amazon.awssdk", "bundle", AWS_SDK_BUNDLE_VERSION),
    ("org.postgresql", "postgresql", POSTGRES_JDBC_VERSION),
)
