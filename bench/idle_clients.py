#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Holds N idle TLS connections open through a proxy (scenario S4 of
bench/run): each connection completes its TLS handshake with the backend
behind the proxy, then sends nothing. No standard load generator holds idle
connections, hence this small client (Python's ssl module is OpenSSL).

Prints "ready <n> <failed>" once every handshake is done (or failed), then
keeps the connections until a line arrives on stdin (or stdin closes).

  idle_clients.py <host> <port> <sni> <count> [--concurrency C] [--sources N]

--sources N spreads the connections over the source addresses 127.0.0.1 to
127.0.0.N: one source address has at most ~64k ports towards one port.
"""
import argparse
import asyncio
import ssl
import sys


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("sni")
    ap.add_argument("count", type=int)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--sources", type=int, default=1)
    a = ap.parse_args()

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(a.concurrency)
    held = []
    failed = 0

    async def one(i):
        nonlocal failed
        local = (f"127.0.0.{1 + i % a.sources}", 0) if a.sources > 1 else None
        async with gate:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(a.host, a.port, ssl=ctx, server_hostname=a.sni, local_addr=local),
                    a.timeout)
                held.append(w)
            except Exception:
                failed += 1

    await asyncio.gather(*(one(i) for i in range(a.count)))
    print(f"ready {len(held)} {failed}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for w in held:
        w.transport.abort()


asyncio.run(main())
