#!/usr/bin/env python3
"""sip_peer - a scriptable SIP peer on loopback for the guard tests (tests/integration/guard.sh).

  sip_peer.py listen PORT SECONDS LOG [--answer | --busy] [--tcp]
      Binds 127.0.0.1:PORT (UDP; with --tcp a TCP listener on the same port too) and logs
      every datagram or TCP message as one line "SRC_PORT LEN START-LINE" to LOG (and each
      datagram whole, followed by a line "----", to LOG.msgs) until
      SECONDS pass or a file LOG.stop exists. --answer plays a UAS: 200 OK (with an SDP) to
      an INVITE, 200 to BYE, nothing to ACK; --busy: 486 to an INVITE instead.
  sip_peer.py send HOST PORT SECONDS [--bind IP] [--from PORT] [--expect N] < MESSAGES
      Sends each message of stdin (separated by a line "----"; "\\n" made CRLF) as one
      datagram from --bind (127.0.0.1):--from, then prints every message received ("<<< " + start
      line, then the text) until SECONDS pass or N messages other than provisional
      responses came. A non-2xx final response to an INVITE of ours gets its ACK.
Bounded: every wait has its limit; nothing is sent anywhere but where it is told.
"""
import os
import select
import socket
import sys
import time


def start_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def header(text, name):
    for line in text.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def answer(sock, data, src, port, status=200):
    text = data.decode("latin-1")
    first = start_line(data)
    if first.startswith("SIP/"):
        return None
    method = first.split(" ", 1)[0]
    if method == "ACK":
        return None
    vias = [l for l in text.split("\r\n") if l.lower().startswith("via:")]
    to = header(text, "To")
    if method == "INVITE" and ";tag=" not in to:
        to += ";tag=peer%d" % port
    body = ""
    ctype = ""
    if method == "INVITE" and status == 200:
        body = ("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (port + 2))
        ctype = "Content-Type: application/sdp\r\n"
    resp = (("SIP/2.0 200 OK\r\n" if method != "INVITE" or status == 200 else "SIP/2.0 486 Busy Here\r\n")
            + "\r\n".join(vias) + "\r\n"
            "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
            "Contact: <sip:peer@127.0.0.1:%d>\r\n%sContent-Length: %d\r\n\r\n%s"
            % (header(text, "From"), to, header(text, "Call-ID"), header(text, "CSeq"), port,
               ctype, len(body), body))
    return resp.encode("latin-1")


def listen(port, seconds, log, do_answer, tcp, status):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    socks = [u]
    conns = []
    if tcp:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", port))
        t.listen(16)
        socks.append(t)
    end = time.time() + seconds
    with open(log, "a", buffering=1) as out, open(log + ".msgs", "a", buffering=1) as full:
        out.write("# listening\n")
        while time.time() < end and not os.path.exists(log + ".stop"):
            r, _, _ = select.select(socks + conns, [], [], 0.05)
            for s in r:
                if s is u:
                    data, src = u.recvfrom(65535)
                    out.write("%d %d %s\n" % (src[1], len(data), start_line(data)))
                    full.write(data.decode("latin-1").replace("\r\n", "\n") + "\n----\n")
                    if do_answer:
                        resp = answer(u, data, src, port, status)
                        if resp:
                            u.sendto(resp, src)
                elif tcp and s is socks[1]:
                    c, src = s.accept()
                    out.write("%d 0 TCP-CONNECT\n" % src[1])
                    conns.append(c)
                else:
                    data = s.recv(65535)
                    if not data:
                        conns.remove(s)
                        s.close()
                        continue
                    out.write("%d %d %s\n" % (s.getpeername()[1], len(data), start_line(data)))


def ack_for(sent, data):
    """RFC 3261 17.1.1.3: the ACK of a non-2xx final response to an INVITE we sent."""
    text = data.decode("latin-1")
    first = start_line(data)
    if not first.startswith("SIP/2.0 ") or first[8] in "12" or not header(text, "CSeq").endswith("INVITE"):
        return None
    for req in sent:
        if req.startswith("INVITE ") and header(req, "Call-ID") == header(text, "Call-ID"):
            ruri = req.split(" ")[1]
            via = header(req, "Via")
            cseq = header(req, "CSeq").split(" ")[0]
            ack = ("ACK %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n"
                   "Call-ID: %s\r\nCSeq: %s ACK\r\nContent-Length: 0\r\n\r\n"
                   % (ruri, via, header(req, "From"), header(text, "To"), header(req, "Call-ID"), cseq))
            return ack.encode("latin-1")
    return None


def send(host, port, seconds, from_port, expect, bind):
    raw = sys.stdin.read()
    msgs = [m.strip("\n") for m in raw.split("\n----\n") if m.strip()]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, from_port))
    sent = []
    for m in msgs:
        lines = m.split("\n")
        # the body, if any, follows the first empty line: keep it and fix Content-Length
        if "" in lines:
            i = lines.index("")
            head, body = lines[:i], "\r\n".join(lines[i + 1:])
            if body:
                body += "\r\n"
        else:
            head, body = lines, ""
        head = [l for l in head if not l.lower().startswith("content-length")]
        text = "\r\n".join(head) + "\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        s.sendto(text.encode("latin-1"), (host, port))
        sent.append(text)
    end = time.time() + seconds
    got = 0
    while time.time() < end and (expect == 0 or got < expect):
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            data, src = s.recvfrom(65535)
            first = start_line(data)
            if not first.startswith("SIP/2.0 1"):
                got += 1
            ack = ack_for(sent, data)
            if ack:
                s.sendto(ack, src)
            print("<<< " + start_line(data))
            print(data.decode("latin-1").replace("\r\n", "\n"))
            sys.stdout.flush()


def main():
    a = sys.argv[1:]
    if a and a[0] == "listen":
        listen(int(a[1]), float(a[2]), a[3], "--answer" in a or "--busy" in a, "--tcp" in a,
               486 if "--busy" in a else 200)
    elif a and a[0] == "send":
        from_port = int(a[a.index("--from") + 1]) if "--from" in a else 0
        expect = int(a[a.index("--expect") + 1]) if "--expect" in a else 0
        bind = a[a.index("--bind") + 1] if "--bind" in a else "127.0.0.1"
        send(a[1], int(a[2]), float(a[3]), from_port, expect, bind)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
