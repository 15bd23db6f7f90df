"""Drives the official Service Bus SDK for Python, one operation at a time.

Run with Debian's interpreter, which has the SDK (python3-azure: azure-servicebus
7.8 over python3-uamqp):

    /usr/bin/python3 servicebus_sdk_driver.py CONNECTION_STRING CA_FILE

CA_FILE is the certificate the SDK is to trust (connection_verify); "-" leaves
the SDK's default CA bundle in place.

Each line on stdin is one JSON operation; each answer is one JSON line on
stdout, so a test can look at the broker between two operations. Answers are
{"ok": true, ...} or {"ok": false, "error": <exception class>, "message": ...}.

Operations (queue names as in Service Bus; sub_queue "deadletter" reads the
dead-letter sub-queue):
  send       {queue, messages: [{id, body}]}          one batch
  schedule   {queue, messages, at_ms}                -> sequence_numbers
  cancel     {queue, sequence_numbers}
  receive    {queue, sub_queue?, max, wait_s}        -> messages (peek-lock)
  complete   {id}
  abandon    {id}
  dead_letter {id, reason, description}
  renew      {id}                                    -> locked_until_ms
  close
A received message is settled by its id: the latest delivery of that id.
"""
import datetime
import json
import sys

try:
    from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
    from azure.servicebus import __version__ as SDK_VERSION
    import uamqp
except ImportError as err:
    sys.stderr.write(
        "servicebus_sdk_driver: %s. Install Debian's python3-azure (it brings python3-uamqp) "
        "and run /usr/bin/python3.\n" % err
    )
    sys.exit(3)


def epoch_ms(when):
    return None if when is None else int(when.timestamp() * 1000)


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def describe(message):
    return {
        "id": message.message_id,
        "body": b"".join(message.body).decode("utf-8"),
        "sequence_number": message.sequence_number,
        "delivery_count": message.delivery_count,
        "locked_until_ms": epoch_ms(message.locked_until_utc),
        "dead_letter_reason": text(message.dead_letter_reason),
        "dead_letter_description": text(message.dead_letter_error_description),
        "dead_letter_source": text(message.dead_letter_source),
    }


def to_messages(specs):
    return [ServiceBusMessage(spec["body"], message_id=spec["id"]) for spec in specs]


class Driver:
    def __init__(self, connection_string, ca_file):
        # retry_total=0: a test wants the first failure, not the SDK's backoff.
        verify = {} if ca_file == "-" else {"connection_verify": ca_file}
        self.client = ServiceBusClient.from_connection_string(connection_string, retry_total=0, **verify)
        self.senders = {}
        self.receivers = {}
        self.held = {}

    def sender(self, queue):
        if queue not in self.senders:
            self.senders[queue] = self.client.get_queue_sender(queue)
        return self.senders[queue]

    def receiver(self, queue, sub_queue):
        key = (queue, sub_queue)
        if key not in self.receivers:
            kwargs = {"sub_queue": ServiceBusSubQueue.DEAD_LETTER} if sub_queue == "deadletter" else {}
            self.receivers[key] = self.client.get_queue_receiver(queue, **kwargs)
        return self.receivers[key]

    def run(self, op):
        name = op["op"]
        if name == "send":
            self.sender(op["queue"]).send_messages(to_messages(op["messages"]))
            return {}
        if name == "schedule":
            at = datetime.datetime.fromtimestamp(op["at_ms"] / 1000, tz=datetime.timezone.utc)
            numbers = self.sender(op["queue"]).schedule_messages(to_messages(op["messages"]), at)
            return {"sequence_numbers": list(numbers)}
        if name == "cancel":
            self.sender(op["queue"]).cancel_scheduled_messages(op["sequence_numbers"])
            return {}
        if name == "receive":
            receiver = self.receiver(op["queue"], op.get("sub_queue"))
            got = []
            while len(got) < op["max"]:
                batch = receiver.receive_messages(max_message_count=op["max"] - len(got), max_wait_time=op["wait_s"])
                if not batch:
                    break
                got.extend(batch)
            for message in got:
                self.held[message.message_id] = (receiver, message)
            return {"messages": [describe(m) for m in got]}
        if name == "complete":
            receiver, message = self.held.pop(op["id"])
            receiver.complete_message(message)
            return {}
        if name == "abandon":
            receiver, message = self.held.pop(op["id"])
            receiver.abandon_message(message)
            return {}
        if name == "dead_letter":
            receiver, message = self.held.pop(op["id"])
            receiver.dead_letter_message(message, reason=op["reason"], error_description=op["description"])
            return {}
        if name == "renew":
            receiver, message = self.held[op["id"]]
            return {"locked_until_ms": epoch_ms(receiver.renew_message_lock(message))}
        raise ValueError("unknown operation %r" % name)

    def close(self):
        for handler in list(self.receivers.values()) + list(self.senders.values()):
            handler.close()
        self.client.close()


def answer(reply):
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main():
    driver = Driver(sys.argv[1], sys.argv[2])
    answer({"ok": True, "ready": True, "sdk": SDK_VERSION, "uamqp": uamqp.__version__})
    for line in sys.stdin:
        op = json.loads(line)
        if op["op"] == "close":
            break
        try:
            reply = driver.run(op)
            reply["ok"] = True
        except Exception as err:  # every failure goes back to the test, typed
            reply = {"ok": False, "error": type(err).__name__, "message": str(err)}
        answer(reply)
    driver.close()
    answer({"ok": True, "closed": True})


if __name__ == "__main__":
    main()
