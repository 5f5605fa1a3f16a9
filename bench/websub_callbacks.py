"""WebSub subscribers for bench/websub.sh: one asyncio HTTP server that
answers every callback URL on PORT at each of the HOSTS addresses (loopback
127.0.1.x, so the hub sees as many hosts as a real crowd would spread over).

Usage: python3 websub_callbacks.py PORT HOSTS

- GET with hub.challenge: the verification; answered with the challenge.
- POST: a push; counted per callback path (the first push per path is
  what the bench waits for), with the time of arrival.
- GET /status: JSON {"verified", "pushes", "distinct", "last"} where "last"
  is the time (time.time()) at which the last new path got its first push,
  and "bytes" the push bytes received.
Prints READY when it listens.
"""

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

state = {"verified": 0, "pushes": 0, "distinct": 0, "last": 0.0, "bytes": 0}
seen = set()


async def handle(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await asyncio.wait_for(reader.readexactly(length), 30) if length else b""
        url = urlsplit(target)
        reply = b""
        if method == "GET" and url.path == "/status":
            reply = json.dumps(state).encode()
        elif method == "GET":
            challenge = parse_qs(url.query).get("hub.challenge", [""])[0]
            state["verified"] += 1
            reply = challenge.encode()
        elif method == "POST":
            state["pushes"] += 1
            state["bytes"] += len(body)
            if url.path not in seen:
                seen.add(url.path)
                state["distinct"] = len(seen)
                state["last"] = time.time()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (len(reply), reply)
        )
        await writer.drain()
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    port, hosts = int(sys.argv[1]), int(sys.argv[2])
    addresses = ["127.0.1.%d" % i for i in range(1, hosts + 1)]
    server = await asyncio.start_server(handle, host=addresses, port=port, backlog=1024)
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
