#!/usr/bin/env python3
# Records the first ClientHello a TLS client sends, as raw bytes, for the
# parser's tests. Usage: capture.py OUT.bin -- client command with {port}
# The client is run against 127.0.0.1:{port}; the connection is closed once
# the whole hello (possibly over several records) has been read.
import socket, subprocess, sys, time

def read_hello(conn):
    data = b""
    conn.settimeout(20)
    need = None
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        # walk records, count handshake bytes
        hs = b""
        off = 0
        while off + 5 <= len(data):
            ln = int.from_bytes(data[off + 3:off + 5], "big")
            hs += data[off + 5:off + 5 + ln]
            if off + 5 + ln > len(data):
                break
            off += 5 + ln
            if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
                return data[:off]
    return data

def main():
    out = sys.argv[1]
    cmd = sys.argv[3:]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv.settimeout(30)
    conn, _ = srv.accept()
    hello = read_hello(conn)
    conn.close()
    with open(out, "wb") as f:
        f.write(hello)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    print(f"{out}: {len(hello)} bytes")

main()
