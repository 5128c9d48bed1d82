"""A callback receiver for the README's tour, on this machine.

    PYTHONPATH=sdk/python python3 examples/tour/receiver.py

It listens on 127.0.0.1 on a free port (or --port), verifies and decrypts
every callback with the Python kit (atelier.callback) and the keys of
examples/tour/signing.key and aes.key, read as they are (a key file's final
newline is not part of the key), and appends each event to receiver.log as
one JSON line. It prints its URL on standard output and goes on serving in
the background, so that

    url=$(PYTHONPATH=sdk/python python3 examples/tour/receiver.py)

returns at once; its process id is in receiver.pid (kill "$(cat
receiver.pid)" stops it), and it stops by itself after --lifetime seconds
(10 minutes by default). Standard library only.
"""

import argparse
import http.server
import json
import os
import sys
import threading

from atelier import callback

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--signing-key-file", default=os.path.join(HERE, "signing.key"))
    ap.add_argument("--encryption-key-file", default=os.path.join(HERE, "aes.key"))
    ap.add_argument("--log", default="receiver.log", help="where events are appended, one JSON line each")
    ap.add_argument("--pid-file", default="receiver.pid")
    ap.add_argument("--lifetime", type=float, default=600, help="seconds before it stops by itself")
    args = ap.parse_args()

    with open(args.signing_key_file) as f:
        signing_key = f.read()
    with open(args.encryption_key_file) as f:
        encryption_key = f.read()
    log = open(args.log, "a", buffering=1)
    lock = threading.Lock()

    def on_event(event_type, event):
        with lock:
            log.write(json.dumps({"eventType": event_type, "event": event}) + "\n")
        return None

    handler = callback.make_handler(signing_key, encryption_key, on_event)
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    url = "http://127.0.0.1:%d/atelier" % srv.server_address[1]

    pid = os.fork()
    if pid:
        # The parent reports where the child serves, and leaves.
        with open(args.pid_file, "w") as f:
            f.write("%d\n" % pid)
        print(url)
        sys.stdout.flush()
        os._exit(0)
    # The child: detached from the caller's output, so that $(...) returns.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    timer = threading.Timer(args.lifetime, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever()
    os._exit(0)


if __name__ == "__main__":
    main()
