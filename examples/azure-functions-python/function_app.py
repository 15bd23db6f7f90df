"""geo's task queues as Azure Functions triggers (Python v2 programming model).

Each trigger hands the message text to worker.main, which does the rest. A
trigger is bound only when its queue is configured (GEO_STORAGE_QUEUE,
GEO_SERVICEBUS_QUEUE), so one app serves either transport or both.
"""

import os

import azure.functions as func

import worker

app = func.FunctionApp()

if os.environ.get("GEO_STORAGE_QUEUE"):

    # The host decodes the base64 text geo writes (host.json: messageEncoding).
    @app.queue_trigger(arg_name="msg", queue_name="%GEO_STORAGE_QUEUE%", connection="AzureWebJobsStorage")
    def geo_storage_queue_task(msg: func.QueueMessage, context: func.Context) -> None:
        worker.main(msg.get_body().decode("utf-8"), context.invocation_id)


if os.environ.get("GEO_SERVICEBUS_QUEUE"):

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="%GEO_SERVICEBUS_QUEUE%", connection="ServiceBusConnection")
    def geo_service_bus_task(msg: func.ServiceBusMessage, context: func.Context) -> None:
        worker.main(msg.get_body().decode("utf-8"), context.invocation_id)
