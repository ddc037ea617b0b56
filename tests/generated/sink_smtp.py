#!/usr/bin/env python3
"""sink_smtp.py PORT DIR PREFIX [ADDR]: an SMTP server on ADDR:PORT
(127.0.0.1 by default) that stands
for the rest of the Internet in regenerate.sh. RCPT to a local part starting
with "gone" gets 550 5.1.1, one starting with "slow" gets 451 4.4.1; every
other recipient is accepted, and each accepted message is written to
DIR/PREFIX-N.eml (N from 1) with a Return-Path header for the envelope
sender. Sample generation only; it serves until killed."""
import os
import socket
import sys
import threading


def serve(conn, out_dir, prefix, counter, lock):
    f = conn.makefile("rwb")

    def reply(line):
        f.write(line.encode() + b"\r\n")
        f.flush()

    reply("220 sink.example.net ESMTP")
    sender, rcpts, data_mode, lines = "", 0, False, []
    for raw in f:
        if data_mode:
            if raw.rstrip(b"\r\n") == b".":
                data_mode = False
                with lock:
                    counter[0] += 1
                    n = counter[0]
                body = b"".join(l[1:] if l.startswith(b"..") else l for l in lines).replace(b"\r\n", b"\n")
                with open(os.path.join(out_dir, f"{prefix}-{n}.eml"), "wb") as out:
                    out.write(b"Return-Path: <" + sender.encode() + b">\n" + body)
                lines, rcpts = [], 0
                reply("250 2.0.0 stored")
            else:
                lines.append(raw)
            continue
        cmd = raw.decode("latin-1").strip()
        verb = cmd[:4].upper()
        if verb in ("EHLO", "HELO"):
            reply("250 sink.example.net")
        elif verb == "MAIL":
            sender = cmd.split(":", 1)[1].strip().split()[0].strip("<>")
            rcpts = 0
            reply("250 2.1.0 ok")
        elif verb == "RCPT":
            local = cmd.split(":", 1)[1].strip().strip("<>").split("@")[0].lower()
            if local.startswith("gone"):
                reply("550 5.1.1 <%s>: Recipient address rejected: User unknown" % local)
            elif local.startswith("slow"):
                reply("451 4.4.1 Temporary failure, please try again later")
            else:
                rcpts += 1
                reply("250 2.1.5 ok")
        elif verb == "DATA":
            if rcpts:
                data_mode = True
                reply("354 go ahead")
            else:
                reply("554 5.5.1 no valid recipients")
        elif verb == "RSET":
            sender, rcpts = "", 0
            reply("250 ok")
        elif verb == "QUIT":
            reply("221 bye")
            break
        else:
            reply("250 ok")
    conn.close()


def main():
    port, out_dir, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    addr = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
    os.makedirs(out_dir, exist_ok=True)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    counter, lock = [0], threading.Lock()
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, out_dir, prefix, counter, lock), daemon=True).start()


if __name__ == "__main__":
    main()
