"""Airflow DAG pinterest_batch: one Spark batch run per archived data interval.

Thin on purpose (Airflow parses this file often): the tasks and their settings live in
pinpipe.orchestration.batch_dag.
"""

from pinpipe.orchestration.batch_dag import build_dag

dag = build_dag()
