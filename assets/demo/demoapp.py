"""The demo WSGI app `whisgee demo` serves: endpoints with every behaviour
a dashboard should show.

  /           fast: a small greeting
  /slow       sleeps 50-500 ms (or ?ms=N)
  /flaky      answers 500 about one time in five
  /missing    404
  /crash      kills its own worker (the supervisor respawns it)
  /health     200 "ok", for health checks
  /echo       echoes a POST body
"""

import os
import random
import signal
import sys
import time


def _reply(start_response, status, body, ctype="text/plain; charset=utf-8"):
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        return _reply(start_response, "200 OK", "hello from worker pid %d\n" % os.getpid())
    if path == "/health":
        return _reply(start_response, "200 OK", "ok\n")
    if path == "/slow":
        ms = random.randint(50, 500)
        for part in environ.get("QUERY_STRING", "").split("&"):
            if part.startswith("ms="):
                try:
                    ms = max(0, min(60000, int(part[3:])))
                except ValueError:
                    pass
        time.sleep(ms / 1000.0)
        return _reply(start_response, "200 OK", "slept %d ms\n" % ms)
    if path == "/flaky":
        if random.random() < 0.2:
            return _reply(start_response, "500 Internal Server Error", "flaky failure\n")
        return _reply(start_response, "200 OK", "lucky\n")
    if path == "/crash":
        sys.stderr.write("demo: /crash requested, killing worker pid %d\n" % os.getpid())
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if path == "/echo":
        try:
            n = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            n = 0
        return _reply(start_response, "200 OK", environ["wsgi.input"].read(n), "application/octet-stream")
    return _reply(start_response, "404 Not Found", "no such page: %s\n" % path)
