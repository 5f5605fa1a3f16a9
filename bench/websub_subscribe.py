"""Subscribes the bench's callbacks (bench/websub.sh): SUBSCRIBERS callback
URLs http://127.0.1.<h>:PORT/cb/<i>, spread over HOSTS addresses, evenly
over the RSS topics of the site served at BASE (its rss.xml and each
section's, listed from the site's content/ directory).

Usage: python3 websub_subscribe.py BASE SITE_DIR PORT HOSTS SUBSCRIBERS FEEDS

Retries a 503 (verification queue full) after a short pause, at most 100
times per request; any other answer than 202 stops it with the reason.
"""

import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

base, site, port, hosts, subscribers, feeds = sys.argv[1:7]
port, hosts, subscribers, feeds = int(port), int(hosts), int(subscribers), int(feeds)
sections = sorted(
    d for d in os.listdir(os.path.join(site, "content"))
    if os.path.isdir(os.path.join(site, "content", d))
)
topics = [base + "rss.xml"] + [base + s + "/rss.xml" for s in sections]
topics = topics[:feeds]
if len(topics) < feeds:
    sys.exit("only %d feeds in %s" % (len(topics), site))

for i in range(subscribers):
    callback = "http://127.0.1.%d:%d/cb/%d" % (i % hosts + 1, port, i)
    form = urllib.parse.urlencode({
        "hub.mode": "subscribe",
        "hub.topic": topics[i % feeds],
        "hub.callback": callback,
    }).encode()
    for attempt in range(100):
        try:
            with urllib.request.urlopen(base + "websub", data=form, timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as e:
            status = e.code
            if status != 503:
                sys.exit("subscribing %s: %d %s" % (callback, status, e.read()[:200]))
        if status == 202:
            break
        time.sleep(0.05)
    else:
        sys.exit("subscribing %s: still 503 after 100 tries" % callback)
print("asked %d subscriptions on %d feeds" % (subscribers, feeds))
