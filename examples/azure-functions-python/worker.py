"""geo's task worker for Azure Functions: one queue message, one task.

`main` is what the triggers in function_app.py call with the message text. It
claims the task the message names, runs its handler from HANDLERS, reports the
outcome to geo's database and returns. geo owns redelivery (a retry, a task
whose worker died, a message a host poisoned is sent again by geo's sweep), so
`main` returns normally for every outcome of a task, failures included: the
database is the record. It raises only for a message that is not a geo task
(the host then poisons it, where it belongs) and when the database cannot be
reached (the host delivers the message again; if the host gives up and poisons
it, geo's sweep takes it back).

The SQL contract is described in geo's docs/workers.md.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from typing import Any, Callable, Dict, Optional

import psycopg2
import psycopg2.extensions

log = logging.getLogger("geo.worker")

DEFAULT_LEASE_SECONDS = 60.0
# A task of a type this app has no handler for is given back, and geo sends it
# again after this long: a deployment that adds the handler picks it up then.
DEFAULT_RELEASE_DELAY_SECONDS = 60.0
# Long errors (a stack, a response body) are cut: the database keeps the start.
MAX_ERROR_CHARS = 4000


class PermanentError(Exception):
    """Raised by a handler when trying again cannot help: the task fails at once."""


class NotATaskMessage(ValueError):
    """The message is not one geo wrote: raising lets the host poison it."""


def greeting(parameters: Dict[str, Any]) -> Dict[str, Any]:
    """hello_world stage 1: {i, message} -> {message}."""
    return {"message": _text(parameters.get("message"))}


def reply(parameters: Dict[str, Any]) -> Dict[str, Any]:
    """hello_world stage 2: {i, greeting} -> {reply}."""
    return {"reply": f"Task {_text(parameters.get('i'))} heard: {_text(parameters.get('greeting'))}"}


# Task type -> handler. A handler takes the task's parameters and returns its
# result (anything JSON can hold); it raises PermanentError when retrying cannot
# help, any other exception to be retried under the stage's retry policy.
# Looked up at call time, so handlers may be added or replaced after import.
HANDLERS: Dict[str, Callable[[Dict[str, Any]], Any]] = {
    "greeting": greeting,
    "reply": reply,
}


def main(body: str, invocation_id: Optional[str] = None) -> None:
    """Handles one message; returns normally whatever became of the task."""
    process(body, invocation_id)


def process(body: str, invocation_id: Optional[str] = None) -> str:
    """Handles one message and says what happened, for logs and tests.

    The answer is the outcome of the last call to the database: `completed`,
    `retry`, `failed` or `released` after running (or giving back) the task;
    `busy`, `finished`, `cancelled`, `paused` or `missing` when the claim found
    nothing to run; `duplicate` or `stale` when the report found the task had
    moved on (another worker took it over after this one's lease lapsed).
    """
    message = _parse(body)
    task_id = message["taskId"]
    # Per invocation, so geo batches and the task's row tell two invocations
    # of one message apart. The name decides nothing: the claim token fences
    # every report, and a second invocation is answered busy whatever its name.
    worker = f"{_host_name()}:{invocation_id or uuid.uuid4()}"
    lease = _seconds("GEO_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)

    outcome, claim, attempt, task_type, parameters = _call(
        "SELECT outcome, claim, attempt, task_type, parameters FROM geo_claim_task(%s, %s, make_interval(secs => %s))",
        (task_id, worker, lease),
    )
    if outcome != "claimed":
        # finished, busy, cancelled, paused, missing: nothing to run here, and
        # geo delivers the task again if it still needs to run.
        log.info("task %s: %s, acknowledged without running", task_id, outcome)
        return outcome

    handler = HANDLERS.get(task_type)
    if handler is None:
        delay = _seconds("GEO_RELEASE_DELAY_SECONDS", DEFAULT_RELEASE_DELAY_SECONDS)
        (released,) = _call(
            "SELECT geo_release_task(%s, %s, make_interval(secs => %s))",
            (task_id, claim, delay),
        )
        log.warning("task %s: no handler for task type %r here; given back (%s), geo sends it again in %ss",
                    task_id, task_type, released, delay)
        return released

    error: Optional[str] = None
    retryable = True
    with _LeaseRenewal(task_id, claim, lease):
        try:
            result = handler(parameters)
        except PermanentError as err:
            error, retryable = _describe(err), False
        except Exception as err:  # every handler error is the task's outcome, not the message's
            error = _describe(err)
    if error is not None:
        return _fail(task_id, claim, attempt, error, retryable)
    try:
        result_json = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as err:
        # Running it again would return the same thing.
        return _fail(task_id, claim, attempt, f"the handler's result is not JSON: {err}", retryable=False)

    outcome, _stage_completed = _call(
        "SELECT outcome, stage_completed FROM geo_complete_task(%s, %s, %s::jsonb)",
        (task_id, claim, result_json),
    )
    log.info("task %s attempt %s: %s", task_id, attempt, outcome)
    return outcome


def _text(value: Any) -> str:
    """A value as JavaScript's String() writes it, so results match geo's own handlers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fail(task_id: str, claim: int, attempt: int, error: str, retryable: bool) -> str:
    outcome, retry_at, _stage_completed = _call(
        "SELECT outcome, retry_at, stage_completed FROM geo_fail_task(%s, %s, %s, %s)",
        (task_id, claim, error[:MAX_ERROR_CHARS], retryable),
    )
    if outcome == "retry":
        log.warning("task %s attempt %s failed (%s); geo sends it again at %s", task_id, attempt, error, retry_at)
    else:
        log.warning("task %s attempt %s failed (%s): %s", task_id, attempt, error, outcome)
    return outcome


def _describe(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, PermanentError):
        return text or type(err).__name__
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _parse(body: str) -> Dict[str, Any]:
    """The fields of geo's task message this worker relies on, checked."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as err:
        raise NotATaskMessage(f"not a geo task message: not JSON ({err})") from None
    if not isinstance(message, dict):
        raise NotATaskMessage("not a geo task message: not a JSON object")
    for field in ("taskId", "jobId", "taskType"):
        if not isinstance(message.get(field), str) or not message[field]:
            raise NotATaskMessage(f"not a geo task message: no {field}")
    return message


def _host_name() -> str:
    # WEBSITE_INSTANCE_ID names the instance on Azure; elsewhere the host name.
    return os.environ.get("WEBSITE_INSTANCE_ID", "")[:16] or socket.gethostname()


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise RuntimeError(f"{name} must be above 0, not {raw!r}")
    return value


# One connection per thread: the Functions host runs invocations on a pool of
# threads, and a psycopg2 connection serves one statement at a time.
_local = threading.local()


def _connect() -> psycopg2.extensions.connection:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise RuntimeError("DATABASE_URL is not set: the app setting names geo's database (geo db url)")
    options = psycopg2.extensions.parse_dsn(url)
    options.setdefault("application_name", "geo-functions-worker")
    options.setdefault("connect_timeout", "10")
    conn = psycopg2.connect(**options)
    # Each call to geo's functions is its own transaction.
    conn.autocommit = True
    return conn


def _call(sql: str, args: tuple) -> tuple:
    """One statement, one row back. A connection the server dropped while it
    sat idle is replaced once; a database that cannot be reached raises."""
    for retry in (False, True):
        conn = getattr(_local, "conn", None)
        fresh = conn is None or conn.closed != 0
        if fresh:
            conn = _local.conn = _connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                row = cur.fetchone()
            if row is None:
                raise RuntimeError(f"geo's database answered no row to: {sql}")
            return row
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            _local.conn = None
            conn.close()
            # A repeat is safe: each function answers a call it already took
            # as duplicate, stale or busy rather than doing it twice.
            if fresh or retry:
                raise
    raise AssertionError("unreachable")


class _LeaseRenewal:
    """Renews the claim's lease every third of it while the handler runs, on a
    thread with its own connection, opened only when a renewal is due (a short
    handler never opens one). A lost claim is logged: the handler runs on and
    its report is answered `stale`."""

    def __init__(self, task_id: str, claim: int, lease: float) -> None:
        self._task_id = task_id
        self._claim = claim
        self._lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"geo-renew-{task_id}", daemon=True)

    def __enter__(self) -> "_LeaseRenewal":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = None
        try:
            while not self._stop.wait(self._lease / 3):
                try:
                    if conn is None or conn.closed != 0:
                        conn = _connect()
                    with conn.cursor() as cur:
                        cur.execute(
                            "SELECT outcome FROM geo_renew_task(%s, %s, make_interval(secs => %s))",
                            (self._task_id, self._claim, self._lease),
                        )
                        (outcome,) = cur.fetchone()
                except psycopg2.Error as err:
                    # The next tick tries again; the lease covers two more.
                    log.warning("task %s: lease renewal failed: %s", self._task_id, err)
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
                if outcome != "renewed":
                    log.warning("task %s: claim %s %s; its report will be refused", self._task_id, self._claim, outcome)
                    return
        finally:
            if conn is not None:
                conn.close()
