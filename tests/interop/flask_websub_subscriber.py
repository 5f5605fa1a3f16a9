"""A WebSub subscriber nobody here wrote: Flask-WebSub's (PyPI `flask-websub`),
run by tests/it/websub.rs against a broadsheet server on loopback.

Usage: python3 flask_websub_subscriber.py FEED_URL DATA_DIR

It discovers the hub and the topic from FEED_URL's Link header (Flask-WebSub's
own `discover`), serves its callbacks on 127.0.0.1 (a free port), subscribes,
and reports on stdout, one line each:
  SUBSCRIBED <topic>          the hub verified the subscription
  DENIED <topic> <reason>     the hub refused it
  PUSH <n>                    the n-th notification; its body is DATA_DIR/push-<n>
It stops when its standard input closes (the test ending), or after 120 s.

Flask-WebSub sends `hub.secret` only to https hubs (as the Recommendation
asks), so against the test's http hub the pushes are unsigned.
"""

import os
import sys
import tempfile
import threading

from flask import Flask
from flask_websub.subscriber import (
    Subscriber,
    SQLite3SubscriberStorage,
    SQLite3TempSubscriberStorage,
    discover,
)
from werkzeug.serving import make_server


def say(line):
    print(line, flush=True)


def main():
    feed_url, data_dir = sys.argv[1], sys.argv[2]
    app = Flask(__name__)
    storage_dir = tempfile.mkdtemp(dir=data_dir)
    subscriber = Subscriber(
        SQLite3SubscriberStorage(os.path.join(storage_dir, "subs.sqlite3")),
        SQLite3TempSubscriberStorage(os.path.join(storage_dir, "temp.sqlite3")),
        REQUEST_TIMEOUT=5,
    )
    app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))

    pushes = [0]
    lock = threading.Lock()

    def on_push(topic_url, callback_id, body):
        with lock:
            pushes[0] += 1
            n = pushes[0]
        path = os.path.join(data_dir, "push-%d" % n)
        with open(path + ".part", "wb") as f:
            f.write(body)
        os.replace(path + ".part", path)
        say("PUSH %d" % n)

    subscriber.add_listener(on_push)
    subscriber.add_success_handler(
        lambda topic, callback_id, mode: say("SUBSCRIBED %s" % topic)
        if mode == "subscribe"
        else None
    )
    subscriber.add_error_handler(
        lambda topic, callback_id, reason: say("DENIED %s %s" % (topic, reason))
    )

    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["SERVER_NAME"] = "127.0.0.1:%d" % server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()

    found = discover(feed_url, timeout=5)
    with app.app_context():
        subscriber.subscribe(**found)
    say("ASKED %s %s" % (found["hub_url"], found["topic_url"]))

    # Ends with the test: its end closes our standard input.
    timer = threading.Timer(120, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
