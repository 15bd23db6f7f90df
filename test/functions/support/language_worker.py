"""A stand-in for the Functions Python language worker, for a host written
in Node (servicebus-host.ts): reads one invocation per line on stdin,
{"id", "body", "invocationId"}, runs worker.process on a pool of threads as
the Functions worker does, and answers one line per invocation on stdout,
{"id", "ok": true, "outcome"} or {"id", "ok": false, "error"}.

Environment: DATABASE_URL, GEO_LEASE_SECONDS, GEO_TEST_RECORDS, GEO_TEST_PLAN.
"""

import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import handlers
import worker


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    recorder = handlers.install()
    answers = threading.Lock()
    out = sys.stdout

    def answer(record: dict) -> None:
        with answers:
            out.write(json.dumps(record) + "\n")
            out.flush()

    def invoke(request: dict) -> None:
        try:
            outcome = worker.process(request["body"], request["invocationId"])
        except Exception as err:
            recorder.write(kind="invocation", taskId=_task_id(request["body"]), raised=f"{type(err).__name__}: {err}")
            answer({"id": request["id"], "ok": False, "error": f"{type(err).__name__}: {err}"})
            return
        recorder.write(kind="invocation", taskId=_task_id(request["body"]), outcome=outcome)
        answer({"id": request["id"], "ok": True, "outcome": outcome})

    with ThreadPoolExecutor(max_workers=int(os.environ.get("GEO_TEST_THREADS", "4"))) as pool:
        recorder.write(kind="host-started")
        for line in sys.stdin:
            if line.strip():
                pool.submit(invoke, json.loads(line))


def _task_id(text: str):
    try:
        return json.loads(text).get("taskId")
    except (ValueError, AttributeError):
        return None


if __name__ == "__main__":
    main()
