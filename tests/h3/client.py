"""A minimal HTTP/3 client on aioquic (not ours): GETs URL and prints `STATUS BYTES` and the
response's headers, one per line. Checks `httptrace serve --h3-port` in the tests.
Usage: python3 client.py URL [CAFILE]"""
import asyncio
import ssl
import sys
from urllib.parse import urlparse

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.headers = []
        self.body = b""
        self.done = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived):
                self.headers.extend(e.headers)
            elif isinstance(e, DataReceived):
                self.body += e.data
            if getattr(e, "stream_ended", False) and not self.done.done():
                self.done.set_result(None)

    async def get(self, url):
        u = urlparse(url)
        stream = self._quic.get_next_available_stream_id()
        self.h3.send_headers(stream, [
            (b":method", b"GET"), (b":scheme", b"https"), (b":authority", u.netloc.encode()),
            (b":path", (u.path or "/").encode() + (b"?" + u.query.encode() if u.query else b"")),
            (b"user-agent", b"aioquic"),
        ], end_stream=True)
        self.transmit()
        await asyncio.wait_for(self.done, 10)


async def main(url, cafile):
    u = urlparse(url)
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    if cafile:
        config.load_verify_locations(cafile)
    else:
        config.verify_mode = ssl.CERT_NONE
    async with connect(u.hostname, u.port or 443, configuration=config, create_protocol=Client) as client:
        await client.get(url)
        status = dict(client.headers).get(b":status", b"?").decode()
        print(status, len(client.body))
        for name, value in client.headers:
            print(f"{name.decode()}: {value.decode()}")


asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
