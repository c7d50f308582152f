"""The ingestion API: FastAPI routes that publish Pinterest records to Kafka (`pinpipe api`)."""
