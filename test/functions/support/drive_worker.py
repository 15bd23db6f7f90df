"""Calls worker.process for test/functions/worker.test.ts, with the handler of
one task type replaced as the test asks. Reads a JSON spec on stdin:
  {"taskType", "handler", "calls": [{"body", "invocationId"}], "releaseFile"}
runs the calls at once, one thread each, and prints one JSON document:
  {"results": [{"outcome"} | {"raised", "message"}], "handlerCalls"}.

Handlers: "example" (the example's own), "raise", "permanent", "nan" (a
result JSON cannot hold), "none" (no handler for the type), "untilOthersReturn"
(returns once every other call has returned), "untilFile" (returns once
releaseFile exists).
"""

import json
import os
import sys
import threading
import time

import worker


def main() -> None:
    spec = json.load(sys.stdin)
    calls = spec["calls"]
    returned = threading.Semaphore(0)
    handler_calls = []

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the test did not let the handler return within 60 s")
            time.sleep(0.02)

    def handler(parameters):
        handler_calls.append(parameters)
        kind = spec["handler"]
        if kind == "raise":
            raise RuntimeError("boom")
        if kind == "permanent":
            raise worker.PermanentError("no such scene")
        if kind == "nan":
            return {"x": float("nan")}
        if kind == "untilOthersReturn":
            for _ in range(len(calls) - 1):
                if not returned.acquire(timeout=60):
                    raise TimeoutError("the other calls did not return within 60 s")
            return {"ok": True}
        if kind == "untilFile":
            wait_for(lambda: os.path.exists(spec["releaseFile"]))
            return {"ok": True}
        raise AssertionError(f"unknown handler kind {kind}")

    if spec["handler"] == "none":
        del worker.HANDLERS[spec["taskType"]]
    elif spec["handler"] != "example":
        worker.HANDLERS[spec["taskType"]] = handler

    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def call(index: int) -> None:
        start.wait()
        try:
            results[index] = {"outcome": worker.process(calls[index]["body"], calls[index].get("invocationId"))}
        except Exception as err:
            results[index] = {"raised": type(err).__name__, "message": str(err)}
        returned.release()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"results": results, "handlerCalls": len(handler_calls)}))


if __name__ == "__main__":
    main()
