"""An ASGI app for hypercorn, which serves it over HTTP/3 through aioquic (`--quic-bind`): the
server that is not ours in httptrace's HTTP/3 tests. Endpoints (GET):
  /              200 "hello from hypercorn"
  /delay/MS      waits MS milliseconds, then 200; `x-slept-ms` says how long the wait really took
                 (asyncio oversleeps on a busy machine)
  /bytes/N       200 with N bytes
  /drip?bytes=N&duration_ms=M   headers at once, then N bytes in 10 chunks over M ms
  /stall         headers and 10 bytes, then nothing: the client's idle timeout ends it
"""
import asyncio
import time
from urllib.parse import parse_qs


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    query = parse_qs(scope.get("query_string", b"").decode())
    version = scope.get("http_version", "?").encode()

    async def respond(status, body, chunks=1, gap=0.0, more=False, extra=()):
        headers = [(b"content-type", b"text/plain"), (b"x-http-version", version), *extra]
        if not more:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        step = max(1, len(body) // chunks)
        for i in range(0, len(body), step):
            if i and gap:
                await asyncio.sleep(gap)
            await send({"type": "http.response.body", "body": body[i:i + step], "more_body": True})
        if more:
            await asyncio.sleep(3600)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    if path == "/":
        await respond(200, b"hello from hypercorn\n")
    elif path.startswith("/delay/"):
        start = time.monotonic()
        await asyncio.sleep(int(path[len("/delay/"):]) / 1000)
        slept = f"{(time.monotonic() - start) * 1000:.3f}".encode()
        await respond(200, b"delayed\n", extra=[(b"x-slept-ms", slept)])
    elif path.startswith("/bytes/"):
        await respond(200, b"x" * int(path[len("/bytes/"):]))
    elif path == "/drip":
        n = int(query.get("bytes", ["10"])[0])
        ms = int(query.get("duration_ms", ["1000"])[0])
        await respond(200, b"x" * n, chunks=10, gap=ms / 1000 / 10)
    elif path == "/stall":
        await respond(200, b"x" * 10, more=True)
    else:
        await respond(404, b"not found\n")
