"""The stream path seen from Python: run the Spark job in the background and read what it wrote.

    from pinpipe import stream
    result = stream.run_until_caught_up()   # start, wait for the topics' end, stop
    result.rows, result.quarantined, result.latency

The job itself is jobs/pinpipe_jobs/stream.py.
"""

from pinpipe.stream.control import StreamJobError, run_until_caught_up, start, stop
from pinpipe.stream.report import Latency, StreamReport, report

__all__ = ["Latency", "StreamJobError", "StreamReport", "report", "run_until_caught_up", "start", "stop"]
