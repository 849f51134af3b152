#!/usr/bin/env python3
# Records a QUIC client's first flight (the datagrams it sends before any
# answer) for the Initial reader's tests. Usage:
#   capture.py OUT.dgrams -- client command with {port}
# The client is pointed at 127.0.0.1:{port}, where a UDP socket that never
# answers listens. The datagrams that arrive within 150 ms of the first one
# are the flight (clients retransmit only after ~300 ms or more); each is
# written as a 2-byte big-endian length and its bytes.
import select, socket, subprocess, sys, time


def main():
    out = sys.argv[1]
    cmd = sys.argv[3:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    flight, first = [], None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        wait = deadline - time.monotonic() if first is None else first + 0.15 - time.monotonic()
        if wait <= 0 or not select.select([sock], [], [], wait)[0]:
            break
        data, _ = sock.recvfrom(65536)
        if first is None:
            first = time.monotonic()
        flight.append(data)
    proc.kill()
    proc.wait()
    with open(out, "wb") as f:
        for d in flight:
            f.write(len(d).to_bytes(2, "big") + d)
    print(f"{out}: {len(flight)} datagrams, {[len(d) for d in flight]} bytes")


main()
