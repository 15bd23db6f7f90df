"""A stand-in for the Azure Functions host's Storage Queue trigger, with
Azure's own SDK: receive, hide the message while the function runs, call
worker.main with the base64-decoded text, delete the message when it
returns, make it visible again when it raises, and after `maxDequeueCount`
dequeues move it to `<queue>-poison` as the host does.

Usage: storage_host.py QUEUE [--concurrency N] [--double-invoke TASK_ID]
Environment: GEO_TEST_STORAGE_CONNECTION, DATABASE_URL, GEO_LEASE_SECONDS,
GEO_TEST_RECORDS, GEO_TEST_PLAN (see handlers.py).
"""

import argparse
import base64
import binascii
import json
import logging
import os
import threading
import time
import uuid

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

import handlers
import worker

# As host.json in the example sets them, with the test's short delays.
MAX_DEQUEUE_COUNT = 5
RUNNING_VISIBILITY_SECONDS = 15
RAISED_VISIBILITY_SECONDS = 1
BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--double-invoke", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    recorder = handlers.install()
    connection = os.environ["GEO_TEST_STORAGE_CONNECTION"]
    host = Host(connection, args.queue, recorder, args.double_invoke)
    threads = [threading.Thread(target=host.receive_loop, daemon=True) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    recorder.write(kind="host-started")
    for thread in threads:
        thread.join()


class Host:
    def __init__(self, connection: str, queue: str, recorder: handlers.Recorder, double_invoke: str) -> None:
        self._connection = connection
        self._queue = queue
        self._recorder = recorder
        self._double_invoke = double_invoke
        self._doubled = False
        self._doubling = threading.Lock()
        self._local = threading.local()

    def _client(self, name: str) -> QueueClient:
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if name not in clients:
            clients[name] = QueueClient.from_connection_string(self._connection, name)
        return clients[name]

    def receive_loop(self) -> None:
        queue = self._client(self._queue)
        idle = 0.05
        while True:
            messages = list(queue.receive_messages(messages_per_page=BATCH, max_messages=BATCH,
                                                   visibility_timeout=RUNNING_VISIBILITY_SECONDS))
            if not messages:
                time.sleep(idle)
                idle = min(idle * 2, 1.0)
                continue
            idle = 0.05
            for message in messages:
                self._handle(queue, message)

    def _handle(self, queue: QueueClient, message) -> None:
        if message.dequeue_count > MAX_DEQUEUE_COUNT:
            self._poison(queue, message)
            return
        try:
            text = base64.b64decode(message.content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as err:
            self._failed(queue, message, err)
            return
        copies = 2 if self._doubles(text) else 1
        errors = self._invoke(text, copies)
        if errors:
            self._failed(queue, message, errors[0])
        else:
            queue.delete_message(message)

    def _doubles(self, text: str) -> bool:
        """Whether this delivery is the one this process invokes twice: the first it receives of the
        double-invoked task, whatever its dequeue count (an earlier delivery may have gone to a host
        that was killed, or have lapsed on a loaded machine)."""
        if not self._double_invoke or self._double_invoke not in text:
            return False
        with self._doubling:
            if self._doubled:
                return False
            self._doubled = True
            return True

    def _invoke(self, text: str, copies: int) -> list:
        """Runs `copies` invocations of one message at once, as a host does when
        it receives a message twice; returns what they raised."""
        errors = []
        start = threading.Barrier(copies)

        def invocation() -> None:
            invocation_id = str(uuid.uuid4())
            start.wait()
            try:
                outcome = worker.process(text, invocation_id)
            except Exception as err:
                errors.append(err)
                self._recorder.write(kind="invocation", taskId=_task_id(text), raised=f"{type(err).__name__}: {err}")
                return
            self._recorder.write(kind="invocation", taskId=_task_id(text), outcome=outcome, copies=copies)

        if copies == 1:
            invocation()
            return errors
        threads = [threading.Thread(target=invocation) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors

    def _failed(self, queue: QueueClient, message, err: BaseException) -> None:
        if message.dequeue_count >= MAX_DEQUEUE_COUNT:
            self._poison(queue, message)
        else:
            queue.update_message(message, visibility_timeout=RAISED_VISIBILITY_SECONDS)

    def _poison(self, queue: QueueClient, message) -> None:
        poison = self._client(f"{self._queue}-poison")
        try:
            poison.create_queue()
        except ResourceExistsError:
            pass
        poison.send_message(message.content)
        queue.delete_message(message)
        self._recorder.write(kind="poisoned", content=message.content)


def _task_id(text: str):
    try:
        return json.loads(text).get("taskId")
    except (ValueError, AttributeError):
        return None


if __name__ == "__main__":
    main()
