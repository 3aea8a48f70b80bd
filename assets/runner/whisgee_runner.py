"""whisgee's worker runner: serve a WSGI app on an inherited socket.

whisgee's supervisor binds each worker's socket itself and starts this
runner with the socket as an open file descriptor, as circus does with
use_sockets. The socket outlives the worker, so while a worker restarts,
connections wait in the backlog instead of being refused.

    python3 whisgee_runner.py --fd 3 --app app:application [--server auto]

The server is the best one importable, or the one asked for:

  bjoern      bjoern.server_run on the socket (libev; fastest). chaussette
              offers bjoern only on Python 2, so this is how the stack gets
              bjoern on Python 3.
  chaussette  chaussette's own server classes on the fd (waitress or wsgiref
              backend).
  waitress    waitress.serve on the socket.
  wsgiref     a threaded HTTP/1.1 server with keep-alive, below, built on
              the standard library only.

Without --fd, systemd's LISTEN_FDS/LISTEN_PID convention is honoured (fd 3).
On the stop signal (SIGINT, or --stop-signal), the runner stops accepting,
lets requests in progress finish, and exits; bjoern does the same on SIGINT.
Standard library only: this file must run on any Python 3.6+.
"""

import argparse
import importlib
import io
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

SERVERS = ("bjoern", "chaussette", "waitress", "wsgiref")
# What "auto" tries, best first. chaussette comes after waitress: on Python 3
# its only useful backend is waitress itself (its wsgiref backend serves one
# request at a time), so it is used only when asked for by name.
AUTO_ORDER = ("bjoern", "waitress", "wsgiref")


def log(msg):
    sys.stderr.write("whisgee-runner[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def inherited_fd(args):
    if args.fd is not None:
        return args.fd
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and int(os.environ.get("LISTEN_FDS", "0")) >= 1:
        return 3
    raise SystemExit("whisgee-runner: no socket: pass --fd N or set LISTEN_FDS/LISTEN_PID")


def load_app(spec, directory):
    if directory:
        os.chdir(directory)
        if directory not in sys.path:
            sys.path.insert(0, directory)
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def importable(name):
    try:
        importlib.import_module(name)
        return True
    except Exception:
        return False


def choose_server(wanted):
    if wanted != "auto":
        if wanted == "wsgiref" or importable(wanted):
            return wanted
        raise SystemExit("whisgee-runner: server %r is not importable by %s; install it in this interpreter or use server: auto" % (wanted, sys.executable))
    for name in AUTO_ORDER:
        if name == "wsgiref" or importable(name):
            return name
    return "wsgiref"


# --- the standard-library server -------------------------------------------

class Body(io.RawIOBase):
    """wsgi.input: the request body, bounded by Content-Length."""

    def __init__(self, rfile, length):
        self.rfile = rfile
        self.left = length

    def readable(self):
        return True

    def readinto(self, b):
        if self.left <= 0:
            return 0
        n = min(len(b), self.left)
        data = self.rfile.read(n)
        b[:len(data)] = data
        self.left -= len(data)
        if not data:
            self.left = 0
        return len(data)

    def drain(self, limit):
        """Read what the app left unread, so the next request parses; False
        when more than limit bytes remain (then the connection closes)."""
        if self.left > limit:
            return False
        while self.left > 0:
            data = self.rfile.read(min(self.left, 65536))
            if not data:
                return False
            self.left -= len(data)
        return True


def read_chunked(rfile, limit):
    out = io.BytesIO()
    while True:
        line = rfile.readline(1024)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            break
        if out.tell() + size > limit:
            raise ValueError("chunked body over limit")
        out.write(rfile.read(size))
        rfile.readline(1024)
    out.seek(0)
    return out


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; one thread per connection."""

    protocol_version = "HTTP/1.1"
    server_version = "whisgee-runner"
    sys_version = ""
    timeout = 65  # idle keep-alive connections close after this

    def log_message(self, fmt, *args):
        pass  # the proxy logs requests; a worker's stderr is for the app

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or len(self.raw_requestline) > 65536:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.server.begin()
            try:
                self.run_app()
            finally:
                self.server.end()
            if self.server.stopping:
                self.close_connection = True
            self.wfile.flush()
        except (socket.timeout, ConnectionError, BrokenPipeError):
            self.close_connection = True

    def environ(self):
        path, _, query = self.path.partition("?")
        env = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_TYPE" or name == "CONTENT_LENGTH":
                env[name] = value
                continue
            name = "HTTP_" + name
            env[name] = env[name] + "," + value if name in env else value
        fwd = self.headers.get("X-Forwarded-For")
        if fwd:
            env["REMOTE_ADDR"] = fwd.split(",")[-1].strip()
        if self.headers.get("X-Forwarded-Proto") == "https":
            env["wsgi.url_scheme"] = "https"
        host = self.headers.get("Host")
        if host:
            env["SERVER_NAME"] = host.rsplit(":", 1)[0]
        return env

    def run_app(self):
        env = self.environ()
        body = None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            env["wsgi.input"] = read_chunked(self.rfile, self.server.max_body)
            env.pop("CONTENT_LENGTH", None)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "bad Content-Length")
                return
            body = Body(self.rfile, length)
            env["wsgi.input"] = io.BufferedReader(body)
        state = {"status": None, "headers": None, "sent": False, "chunked": False}
        head_only = self.command == "HEAD"

        def send_head():
            status, headers = state["status"], state["headers"]
            code, _, reason = status.partition(" ")
            names = {k.lower() for k, _ in headers}
            self.send_response_only(int(code), reason)
            for k, v in headers:
                self.send_header(k, v)
            if "content-length" not in names and not head_only and int(code) not in (204, 304):
                if self.request_version == "HTTP/1.1":
                    state["chunked"] = True
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.close_connection = True
            if self.close_connection:
                self.send_header("Connection", "close")
            # Not end_headers(): the head goes out with the first body
            # chunk in one write, so a worker killed mid-response leaves
            # either nothing (the proxy retries elsewhere) or a whole small
            # response, never headers without their body.
            self._headers_buffer.append(b"\r\n")
            state["sent"] = True

        def flush_head(body=b""):
            head = b"".join(self._headers_buffer)
            self._headers_buffer = []
            self.wfile.write(head + body)

        def write(data):
            if not state["sent"]:
                send_head()
            if head_only or not data:
                if self._headers_buffer:
                    flush_head()
                return
            if state["chunked"]:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            if self._headers_buffer:
                flush_head(data)
            else:
                self.wfile.write(data)

        def start_response(status, headers, exc_info=None):
            if exc_info and state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, list(headers)
            return write

        result = None
        try:
            result = self.server.app(env, start_response)
            for data in result:
                write(data)
            if not state["sent"]:
                # An empty body: say so, so keep-alive goes on.
                if not any(k.lower() == "content-length" for k, _ in state["headers"]):
                    state["headers"].append(("Content-Length", "0"))
                send_head()
            if self._headers_buffer:
                flush_head(b"0\r\n\r\n" if state["chunked"] else b"")
            elif state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, BrokenPipeError, socket.timeout):
            raise
        except Exception:
            traceback.print_exc()
            if not state["sent"]:
                msg = b"Internal Server Error\n"
                state["status"], state["headers"] = "500 Internal Server Error", [
                    ("Content-Type", "text/plain"), ("Content-Length", str(len(msg)))]
                send_head()
                flush_head(b"" if head_only else msg)
            else:
                self.close_connection = True
        finally:
            if hasattr(result, "close"):
                result.close()
        if body is not None and not body.drain(1 << 20):
            self.close_connection = True


class Server(socketserver.ThreadingMixIn, socketserver.BaseServer):
    """A threaded server on an already listening socket."""

    daemon_threads = True
    max_body = 64 << 20

    def __init__(self, sock, app):
        socketserver.BaseServer.__init__(self, sock.getsockname(), Handler)
        self.socket = sock
        self.app = app
        self.stopping = False
        self.active = 0
        self.lock = threading.Condition()

    def fileno(self):
        return self.socket.fileno()

    def get_request(self):
        conn, addr = self.socket.accept()
        if not addr:
            addr = ("127.0.0.1", 0)  # Unix sockets have no peer address
        return conn, addr

    def shutdown_request(self, request):
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        request.close()

    def begin(self):
        with self.lock:
            self.active += 1

    def end(self):
        with self.lock:
            self.active -= 1
            self.lock.notify_all()

    def stop(self, timeout):
        """Stop accepting, then wait for requests in progress."""
        self.stopping = True
        threading.Thread(target=self.shutdown, daemon=True).start()
        deadline = time.time() + timeout
        with self.lock:
            while self.active > 0 and time.time() < deadline:
                self.lock.wait(deadline - time.time())


def serve_wsgiref(sock, app, stop_signal, graceful):
    server = Server(sock, app)
    done = threading.Event()

    def on_stop(signum, frame):
        if done.is_set():
            return
        done.set()
        threading.Thread(target=lambda: (server.stop(graceful), os._exit(0)), daemon=True).start()

    signal.signal(stop_signal, on_stop)
    if stop_signal != signal.SIGTERM:
        signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    server.serve_forever(poll_interval=0.5)
    done.wait()
    time.sleep(graceful + 1)  # on_stop's thread exits the process


def strip_head_body(app):
    """waitress 2.x sends the app's body after a HEAD response, which
    poisons a keep-alive connection; HTTP says there must be none."""

    def wrapped(environ, start_response):
        result = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return result
        try:
            for _ in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        return []

    return wrapped


def serve_waitress(sock, app):
    import waitress
    waitress.serve(strip_head_body(app), sockets=[sock], _quiet=True)


def serve_chaussette(fd, family, app):
    from chaussette.server import make_server
    backend = "waitress" if importable("waitress") and family != socket.AF_UNIX else "wsgiref"
    # chaussette refuses fd:// with AF_UNIX ("needs the unix:/path form"),
    # yet serves a Unix socket fine when told it is AF_INET: it only
    # wraps the fd, it never binds.
    server = make_server(app, host="fd://%d" % fd, backend=backend, address_family=socket.AF_INET)
    server.serve_forever()


def serve_bjoern(sock, app):
    import bjoern
    bjoern.server_run(sock, app)


def main(argv=None):
    p = argparse.ArgumentParser(description="Serve a WSGI app on an inherited socket.")
    p.add_argument("--fd", type=int, help="the listening socket's fd (default: LISTEN_FDS)")
    p.add_argument("--app", required=True, help="WSGI callable, module:attribute")
    p.add_argument("--dir", default="", help="working directory, put on sys.path")
    p.add_argument("--server", default="auto", choices=("auto",) + SERVERS)
    p.add_argument("--stop-signal", default="INT", help="graceful stop signal (default INT)")
    p.add_argument("--graceful-timeout", type=float, default=30.0)
    p.add_argument("--check", action="store_true", help="import the app, print the server, exit")
    args = p.parse_args(argv)

    try:
        app = load_app(args.app, args.dir)
    except Exception as exc:
        traceback.print_exc()
        log("cannot import %s: %s: %s" % (args.app, type(exc).__name__, exc))
        return 3
    server = choose_server(args.server)
    if args.check:
        print(server)
        return 0
    fd = inherited_fd(args)
    sock = socket.socket(fileno=fd)
    family = sock.family
    stop_signal = getattr(signal, "SIG" + args.stop_signal.upper().replace("SIG", ""))
    log("serving %s with %s on fd %d (%s)" % (args.app, server, fd, sock.getsockname() or "unix"))
    if server == "bjoern":
        serve_bjoern(sock, app)
    elif server == "waitress":
        serve_waitress(sock, app)
    elif server == "chaussette":
        serve_chaussette(fd, family, app)
    else:
        serve_wsgiref(sock, app, stop_signal, args.graceful_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
