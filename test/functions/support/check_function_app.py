"""Imports the example's function_app.py against the azure.functions stub and
calls each trigger it bound with a message, recording what reached
worker.main. Prints one JSON document: [{"kind", "binding", "name", "main"}]."""

import json

import azure.functions as func
import worker

calls = []
worker.main = lambda body, invocation_id=None: calls.append([body, invocation_id])

import function_app  # noqa: E402  (binds its triggers on import)

assert isinstance(function_app.app, func.FunctionApp)
out = []
for entry in func.registered:
    message = func.QueueMessage if entry["kind"] == "queue_trigger" else func.ServiceBusMessage
    calls.clear()
    entry["function"](msg=message('{"taskId": "t-1"}'.encode("utf-8")), context=func.Context("inv-1"))
    out.append({"kind": entry["kind"], "binding": entry["binding"], "name": entry["function"].__name__, "main": list(calls)})
print(json.dumps(out))
