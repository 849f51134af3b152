#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reference JA3/JA4 fingerprints and ClientHello lists for the recorded hellos.

Written from the specifications alone (JA4: FoxIO's technical_details/JA4.md;
JA3: Salesforce's README; TLS: RFC 8446; ECH: RFC 9849), sharing no code with
sluice, so that tests/unit/fingerprint_test.cc compares sluice against an
independent reading. For each NAME.bin next to this script:

  fingerprints.py            print what it computes
  fingerprints.py --write    write NAME.fingerprints
  fingerprints.py --check    exit 1 if a NAME.fingerprints differs (run by ctest)
  fingerprints.py FILE       print what it computes for the hello at the start of FILE
                             (a PROXY v2 header before it is skipped)
"""
import hashlib
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent


def grease(v):
    # RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA.
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def handshake_bytes(data):
    """Concatenates the payloads of the leading handshake records."""
    out = b""
    pos = 0
    while pos + 5 <= len(data) and data[pos] == 22:
        length = struct.unpack(">H", data[pos + 3:pos + 5])[0]
        out += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(out) >= 4 and len(out) >= 4 + int.from_bytes(out[1:4], "big"):
            break
    return out


def u16_list(b):
    return [struct.unpack(">H", b[i:i + 2])[0] for i in range(0, len(b) - 1, 2)]


def parse_hello(data):
    hs = handshake_bytes(data)
    assert hs[0] == 1, "not a ClientHello"
    body = hs[4:4 + int.from_bytes(hs[1:4], "big")]
    p = 0
    hello = {"version": struct.unpack(">H", body[p:p + 2])[0]}
    p += 2 + 32
    p += 1 + body[p]  # session id
    n = struct.unpack(">H", body[p:p + 2])[0]
    hello["ciphers_wire"] = body[p + 2:p + 2 + n]
    p += 2 + n
    p += 1 + body[p]  # compression methods
    exts = []
    if p < len(body):
        end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        while p < end:
            t, n = struct.unpack(">HH", body[p:p + 4])
            exts.append((t, body[p + 4:p + 4 + n]))
            p += 4 + n
    hello["exts"] = exts
    return hello


def ext(hello, t):
    for typ, data in hello["exts"]:
        if typ == t:
            return data
    return None


def alpn_values(hello):
    d = ext(hello, 16)
    if d is None:
        return []
    vals, p = [], 2
    while p < len(d):
        n = d[p]
        vals.append(d[p + 1:p + 1 + n])
        p += 1 + n
    return vals


def fields(hello):
    ciphers = [c for c in u16_list(hello["ciphers_wire"]) if not grease(c)]
    ext_types = [t for t, _ in hello["exts"] if not grease(t)]
    sv = ext(hello, 43)
    version = hello["version"]
    if sv is not None:
        listed = [v for v in u16_list(sv[1:1 + sv[0]]) if not grease(v)]
        if listed:
            version = max(listed)
    sig = ext(hello, 13)
    sigalgs = [s for s in u16_list(sig[2:]) if not grease(s)] if sig is not None else []
    return ciphers, ext_types, version, sigalgs


def ja4(hello, original=False, raw=False):
    ciphers, ext_types, version, sigalgs = fields(hello)
    names = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
             0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
    a = "t" + names.get(version, "00")
    a += "d" if any(t == 0 for t, _ in hello["exts"]) else "i"
    a += "%02d%02d" % (min(len(ciphers), 99), min(len(ext_types), 99))
    alpn = alpn_values(hello)
    first = alpn[0] if alpn else b""
    if not first:
        a += "00"
    else:
        ok = lambda c: chr(c).isascii() and chr(c).isalnum()
        if ok(first[0]) and ok(first[-1]):
            a += chr(first[0]) + chr(first[-1])
        else:
            h = first.hex()
            a += h[0] + h[-1]
    if not original:
        ciphers = sorted(ciphers)
        ext_types = sorted(t for t in ext_types if t not in (0x0000, 0x0010))
    b = ",".join("%04x" % c for c in ciphers)
    c = ",".join("%04x" % e for e in ext_types)
    if sigalgs:
        c += "_" + ",".join("%04x" % s for s in sigalgs)
    if raw:
        return a + "_" + b + "_" + c
    h12 = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12]
    return a + "_" + (h12(b) if ciphers else "0" * 12) + "_" + (h12(c) if ext_types else "0" * 12)


def ja3_string(hello):
    ciphers = [c for c in u16_list(hello["ciphers_wire"]) if not grease(c)]
    ext_types = [t for t, _ in hello["exts"] if not grease(t)]
    groups = ext(hello, 10)
    curves = [g for g in u16_list(groups[2:]) if not grease(g)] if groups is not None else []
    pf = ext(hello, 11)
    formats = list(pf[1:1 + pf[0]]) if pf is not None else []
    j = lambda xs: "-".join(str(x) for x in xs)
    return "%d,%s,%s,%s,%s" % (hello["version"], j(ciphers), j(ext_types), j(curves), j(formats))


def keyshare_groups(hello):
    d = ext(hello, 51)
    out, p = b"", 2
    while d is not None and p + 4 <= len(d):
        n = struct.unpack(">H", d[p + 2:p + 4])[0]
        out += d[p:p + 2]
        p += 4 + n
    return out.hex()


def ech(hello):
    d = ext(hello, 0xFE0D)
    if d is None:
        return "-1 -1"
    if d[0] == 0:  # outer: kdf_id, aead_id, config_id, enc, payload
        return "0 %d" % d[5]
    return "%d -1" % d[0]


def report(path):
    hello = parse_hello(path.read_bytes())
    ja3r = ja3_string(hello)
    groups = ext(hello, 10)
    sig = ext(hello, 13)
    lines = [
        ("ja3_r", ja3r),
        ("ja3", hashlib.md5(ja3r.encode()).hexdigest()),
        ("ja4", ja4(hello)),
        ("ja4_r", ja4(hello, raw=True)),
        ("ja4_o", ja4(hello, original=True)),
        ("ja4_ro", ja4(hello, original=True, raw=True)),
        ("cipherlist", hello["ciphers_wire"].hex()),
        ("sigalgs", sig[2:].hex() if sig is not None else ""),
        ("supported_groups", groups[2:].hex() if groups is not None else ""),
        ("keyshare_groups", keyshare_groups(hello)),
        ("ech", ech(hello)),
    ]
    return "".join("%s %s\n" % kv for kv in lines)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode and not mode.startswith("--"):
        data = pathlib.Path(mode).read_bytes()
        if data.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
            data = data[16 + struct.unpack(">H", data[14:16])[0]:]
        tmp = pathlib.Path(mode + ".hello")
        tmp.write_bytes(data)
        sys.stdout.write(report(tmp))
        tmp.unlink()
        return 0
    bad = 0
    for path in sorted(HERE.glob("*.bin")):
        text = report(path)
        target = path.with_suffix(".fingerprints")
        if mode == "--write":
            target.write_text(text)
        elif mode == "--check":
            if not target.exists() or target.read_text() != text:
                print("%s differs from the reference (run fingerprints.py --write)" % target.name)
                bad += 1
        else:
            print("== " + path.name)
            sys.stdout.write(text)
    if mode == "--check":
        print("%d hellos checked, %d differ" % (len(list(HERE.glob("*.bin"))), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
