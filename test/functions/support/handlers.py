"""The example's handlers, wrapped for the end-to-end tests: every call is
recorded, and the calls a test plan names fail, block or run slowly.

Records are JSON lines appended to records-<pid>.jsonl in GEO_TEST_RECORDS
with single os.write calls, so a line is whole even when the process is
SIGKILLed right after it. The plan (GEO_TEST_PLAN, JSON) maps a kind of
behaviour to task type -> list of task indexes `i`:
  raiseFirst  raise on the first call of the task, run normally after
  alwaysFail  raise on every call
  permanent   raise worker.PermanentError
  block       block on the first call (the test kills the process meanwhile)
  hold        on the first call, write a `held` record and wait until the test
              creates release-<task type>-<i> in GEO_TEST_RECORDS, then run
              normally (raise after two minutes without it)
"""

import json
import os
import time

HOLD_SECONDS = 120

import worker


class Recorder:
    def __init__(self, directory: str) -> None:
        path = os.path.join(directory, f"records-{os.getpid()}.jsonl")
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record) -> None:
        record["pid"] = os.getpid()
        os.write(self._fd, (json.dumps(record) + "\n").encode("utf-8"))


def install() -> Recorder:
    directory = os.environ["GEO_TEST_RECORDS"]
    plan = json.loads(os.environ.get("GEO_TEST_PLAN") or "{}")
    recorder = Recorder(directory)
    markers = os.path.join(directory, "first-calls")
    os.makedirs(markers, exist_ok=True)

    def named(kind: str, task_type: str, i: int) -> bool:
        return i in plan.get(kind, {}).get(task_type, [])

    def hold(task_type: str, i: int) -> None:
        recorder.write(kind="held", taskType=task_type, i=i)
        release = os.path.join(directory, f"release-{task_type}-{i}")
        deadline = time.monotonic() + HOLD_SECONDS
        while not os.path.exists(release):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{task_type} {i} was held and not released within {HOLD_SECONDS} s")
            time.sleep(0.02)

    def first_call(task_type: str, i: int) -> bool:
        # Exclusive creation: exactly one call of a task, in any process, is its first.
        try:
            os.close(os.open(os.path.join(markers, f"{task_type}-{i}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False

    def wrap(task_type: str, original):
        def handler(parameters):
            i = parameters["i"]
            first = first_call(task_type, i)
            recorder.write(kind="call", taskType=task_type, i=i, first=first)
            try:
                if named("block", task_type, i) and first:
                    time.sleep(600)
                if named("alwaysFail", task_type, i):
                    raise RuntimeError("always fails (test)")
                if named("permanent", task_type, i):
                    raise worker.PermanentError("permanent failure (test)")
                if named("raiseFirst", task_type, i) and first:
                    raise RuntimeError("transient failure (test)")
                if named("hold", task_type, i) and first:
                    hold(task_type, i)
                result = original(parameters)
            except Exception as err:
                recorder.write(kind="raised", taskType=task_type, i=i, error=str(err))
                raise
            recorder.write(kind="returned", taskType=task_type, i=i)
            return result

        return handler

    for task_type, original in list(worker.HANDLERS.items()):
        worker.HANDLERS[task_type] = wrap(task_type, original)
    return recorder
