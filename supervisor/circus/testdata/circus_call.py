"""Send circus commands the way circus.client.CircusClient does (a DEALER
socket with an identity, one JSON frame per call, replies matched by id)
and print each reply on a line of its own.

    python3 circus_call.py ENDPOINT < requests

Each line of the input is a JSON list: [command, properties].
"""
import json
import sys
import uuid

import zmq

ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
sock.setsockopt(zmq.LINGER, 0)
sock.connect(sys.argv[1])
for line in sys.stdin:
    command, props = json.loads(line)
    call_id = uuid.uuid4().hex
    sock.send(json.dumps({"command": command, "properties": props or {}, "id": call_id}).encode())
    while True:
        if not sock.poll(20000):
            sys.exit("no reply to %s within 20s" % command)
        reply = json.loads(sock.recv())
        if reply.get("id") == call_id:
            break
    print(json.dumps(reply), flush=True)
