#!/usr/bin/env python3
"""capture_smtp.py PORT DIR [PREFIX]: a minimal SMTP server on 127.0.0.1:PORT
that accepts every message and writes it to DIR/PREFIX-N.eml (N from 1),
prefixed with a Return-Path header holding the envelope sender. Sample
generation only (tests/samples/regenerate.sh); it serves until killed."""
import os
import socket
import sys
import threading


def serve(conn, out_dir, prefix, counter, lock):
    f = conn.makefile("rwb")

    def reply(line):
        f.write(line.encode() + b"\r\n")
        f.flush()

    reply("220 capture ESMTP")
    sender, data_mode, lines = "", False, []
    for raw in f:
        if data_mode:
            if raw.rstrip(b"\r\n") == b".":
                data_mode = False
                with lock:
                    counter[0] += 1
                    n = counter[0]
                body = b"".join(l[1:] if l.startswith(b"..") else l for l in lines)
                body = body.replace(b"\r\n", b"\n")
                path = os.path.join(out_dir, f"{prefix}-{n}.eml")
                with open(path, "wb") as out:
                    out.write(b"Return-Path: <" + sender.encode() + b">\n" + body)
                lines = []
                reply("250 2.0.0 stored")
            else:
                lines.append(raw)
            continue
        cmd = raw.decode("latin-1").strip()
        verb = cmd[:4].upper()
        if verb in ("EHLO", "HELO"):
            reply("250 capture")
        elif verb == "MAIL":
            sender = cmd.split(":", 1)[1].strip().split()[0].strip("<>")
            reply("250 2.1.0 ok")
        elif verb == "RCPT":
            reply("250 2.1.5 ok")
        elif verb == "DATA":
            data_mode = True
            reply("354 go ahead")
        elif verb == "QUIT":
            reply("221 bye")
            break
        else:
            reply("250 ok")
    conn.close()


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else "smtp"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    counter, lock = [0], threading.Lock()
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, out_dir, prefix, counter, lock), daemon=True).start()


if __name__ == "__main__":
    main()
