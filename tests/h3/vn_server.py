"""A QUIC server (aioquic) that speaks only QUIC version 2 (RFC 9369): a client offering
version 1 alone gets a Version Negotiation packet and nothing else. Prints its port when
ready. Usage: python3 vn_server.py CERT KEY"""
import asyncio
import sys

from aioquic.asyncio import serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion


async def main(cert, key):
    config = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    config.supported_versions = [QuicProtocolVersion.VERSION_2]
    config.load_cert_chain(cert, key)
    server = await serve("127.0.0.1", 0, configuration=config)
    print(server._transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Future()


asyncio.run(main(sys.argv[1], sys.argv[2]))
