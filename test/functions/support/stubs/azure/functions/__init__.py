"""A stand-in for the azure-functions package (not installable here), for the
test that imports function_app.py: the parts it uses, recording each trigger
it binds in `registered`."""

registered = []


class FunctionApp:
    def _trigger(self, kind, **binding):
        def bind(function):
            registered.append({"kind": kind, "binding": binding, "function": function})
            return function

        return bind

    def queue_trigger(self, **binding):
        return self._trigger("queue_trigger", **binding)

    def service_bus_queue_trigger(self, **binding):
        return self._trigger("service_bus_queue_trigger", **binding)


class _Message:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def get_body(self) -> bytes:
        return self._body


class QueueMessage(_Message):
    pass


class ServiceBusMessage(_Message):
    pass


class Context:
    def __init__(self, invocation_id: str) -> None:
        self.invocation_id = invocation_id
