#!/usr/bin/env python3
"""Send raw frames to kagi-cardd's socket; print cardd's RESULT code.

usage: frames.py SOCKET CASE
Cases name the fault: oversize_frame, zero_frame, junk_body, wrong_version,
answer_first, trailing_bytes, truncated_then_close, result_from_client.
Prints "code=N closed=1" (cardd's RESULT code and whether cardd closed the
connection after it) or "noreply closed=1".
"""
import socket, struct, sys

def frame(body):
    return struct.pack(">I", len(body)) + body

def s(x):
    b = x.encode()
    return struct.pack(">I", len(b)) + b

AUTH = bytes([1, 0x01]) + s("root") + s("login") + s("") + s("")
cases = {
    "oversize_frame": struct.pack(">I", 64 * 1024 + 1) + b"\x01\x01",
    "zero_frame": struct.pack(">I", 0),
    "junk_body": frame(b"hello, cardd"),
    "wrong_version": frame(bytes([2, 0x01]) + AUTH[2:]),
    "answer_first": frame(bytes([1, 0x02, 1]) + s("1234")),
    "trailing_bytes": frame(AUTH + b"\x00"),
    "truncated_then_close": struct.pack(">I", 100) + AUTH[:10],
    "result_from_client": frame(bytes([1, 0x82]) + b"\x00" * 8),
}

def main():
    path, case = sys.argv[1], sys.argv[2]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(15)
    c.connect(path)
    c.sendall(cases[case])
    if case == "truncated_then_close":
        c.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        print("timeout (cardd kept the connection open)")
        return 1
    if len(data) < 4:
        print("noreply closed=1")
        return 0
    (n,) = struct.unpack(">I", data[:4])
    body = data[4:4 + n]
    if len(body) != n or body[0] != 1 or body[1] != 0x82:
        print("bad reply %r" % data[:16])
        return 1
    (code,) = struct.unpack(">q", body[2:10])
    print("code=%d closed=1 extra=%d" % (code, len(data) - 4 - n))
    return 0

sys.exit(main())
