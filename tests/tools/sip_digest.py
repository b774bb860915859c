#!/usr/bin/env python3
"""sip_digest: a small SIP UAC over UDP that answers digest challenges (RFC 7616 with
qop=auth, MD5 or SHA-256), for tests/integration/auth.sh. SIPp 3.6 only does MD5.

  sip_digest.py SERVER_PORT [options] register|invite

Prints one line per response received: "STATUS key=value ..." (challenge lines carry
algs, nonce, stale, realm), and with --dump the last response whole with its nonce,
tags and branch replaced by placeholders (to compare two answers byte for byte).
Exit status 0 when a final response came, 1 on timeout.
"""
import argparse
import hashlib
import hmac
import os
import re
import socket
import sys
import time


def H(alg, s):
    return hashlib.new('sha256' if alg == 'SHA-256' else 'md5', s.encode()).hexdigest()


def parse(data):
    text = data.decode(errors='replace')
    head = text.split('\r\n\r\n', 1)[0]
    lines = head.split('\r\n')
    status = int(lines[0].split(' ')[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers.append((name.strip().lower(), value.strip()))
    return status, headers, text


def challenges(headers, proxy):
    want = 'proxy-authenticate' if proxy else 'www-authenticate'
    out = []
    for name, value in headers:
        if name == want:
            params = dict((k.lower(), v.strip('"')) for k, v in
                          re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', value))
            out.append(params)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('server_port', type=int)
    ap.add_argument('method', choices=['register', 'invite'])
    ap.add_argument('--bind', default='127.0.0.1')
    ap.add_argument('--user', default='alice', help='the credentials\' username')
    ap.add_argument('--password', default='')
    ap.add_argument('--alg', default='SHA-256', help='algorithm to answer with')
    ap.add_argument('--aor', default=None, help='To user (REGISTER) / From user (INVITE)')
    ap.add_argument('--domain', default='localhost')
    ap.add_argument('--to', default='nobody', help='INVITE: the callee user')
    ap.add_argument('--contact', default=None)
    ap.add_argument('--wildcard', action='store_true', help='Contact: * with Expires: 0')
    ap.add_argument('--expires', type=int, default=600)
    ap.add_argument('--no-auth', action='store_true', help='never answer a challenge')
    ap.add_argument('--replay', action='store_true',
                    help='after the authenticated request, send another with the same nc')
    ap.add_argument('--stale-secret', default=None,
                    help='answer with a nonce made 1000 s ago with this secret')
    ap.add_argument('--realm', default=None, help='answer with this realm')
    ap.add_argument('--dump', action='store_true')
    a = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.bind, 0))
    sock.settimeout(3)
    lport = sock.getsockname()[1]
    aor_user = a.aor or a.user
    call_id = os.urandom(8).hex() + '@' + a.bind
    from_tag = os.urandom(4).hex()
    cseq = [0]
    proxy = a.method == 'invite'
    method = 'INVITE' if proxy else 'REGISTER'
    ruri = ('sip:%s@%s' % (a.to, a.domain)) if proxy else ('sip:%s' % a.domain)
    server = ('127.0.0.1', a.server_port)

    def send(auth=None, final_wanted=True):
        cseq[0] += 1
        branch = 'z9hG4bK' + os.urandom(6).hex()
        if proxy:
            frm = '<sip:%s@%s>;tag=%s' % (aor_user, a.domain, from_tag)
            to = '<sip:%s@%s>' % (a.to, a.domain)
        else:
            frm = '<sip:%s@%s>;tag=%s' % (aor_user, a.domain, from_tag)
            to = '<sip:%s@%s>' % (aor_user, a.domain)
        contact = '*' if a.wildcard else '<%s>' % (a.contact or 'sip:%s@%s:%d' % (aor_user, a.bind, lport))
        msg = ['%s %s SIP/2.0' % (method, ruri),
               'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (a.bind, lport, branch),
               'Max-Forwards: 70', 'From: ' + frm, 'To: ' + to, 'Call-ID: ' + call_id,
               'CSeq: %d %s' % (cseq[0], method), 'Contact: ' + contact]
        if not proxy:
            msg.append('Expires: %d' % (0 if a.wildcard else a.expires))
        if auth:
            msg.append(('Proxy-Authorization: ' if proxy else 'Authorization: ') + auth)
        msg += ['Content-Length: 0', '', '']
        sock.sendto('\r\n'.join(msg).encode(), server)
        while True:
            try:
                data, _ = sock.recvfrom(65535)
            except socket.timeout:
                print('timeout')
                sys.exit(1)
            status, headers, text = parse(data)
            if status < 200:
                continue
            if proxy:  # RFC 3261 17.1.1.3: ACK a non-2xx final in its transaction
                to_hdr = [v for n, v in headers if n == 'to'][0]
                ack = ['ACK %s SIP/2.0' % ruri,
                       'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (a.bind, lport, branch),
                       'Max-Forwards: 70', 'From: ' + frm, 'To: ' + to_hdr,
                       'Call-ID: ' + call_id, 'CSeq: %d ACK' % cseq[0], 'Content-Length: 0', '', '']
                sock.sendto('\r\n'.join(ack).encode(), server)
            return status, headers, text

    def report(status, headers, text):
        ch = challenges(headers, proxy)
        if ch:
            print('%d algs=%s stale=%s realm=%s' % (
                status, ','.join(c.get('algorithm', 'MD5') for c in ch),
                ch[0].get('stale', 'false'), ch[0].get('realm', '')))
        else:
            print('%d' % status)

    def answer(ch, nc):
        nonce = ch['nonce']
        if a.stale_secret:
            stamp = '%08x' % (int(time.time()) - 1000) + os.urandom(8).hex()
            mac = hmac.new(a.stale_secret.encode(), (stamp + ':' + a.bind).encode(),
                           hashlib.sha256).hexdigest()[:32]
            nonce = stamp + mac
        realm = a.realm or ch['realm']
        cnonce = os.urandom(8).hex()
        ha1 = H(a.alg, '%s:%s:%s' % (a.user, realm, a.password))
        ha2 = H(a.alg, '%s:%s' % (method, ruri))
        ncs = '%08x' % nc
        resp = H(a.alg, '%s:%s:%s:%s:auth:%s' % (ha1, nonce, ncs, cnonce, ha2))
        return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                'algorithm=%s, cnonce="%s", qop=auth, nc=%s' %
                (a.user, realm, nonce, ruri, resp, a.alg, cnonce, ncs))

    status, headers, text = send()
    report(status, headers, text)
    if status in (401, 407) and not a.no_auth:
        ch = [c for c in challenges(headers, proxy) if c.get('algorithm', 'MD5') == a.alg]
        if not ch:
            print('no-challenge-for-%s' % a.alg)
            sys.exit(1)
        auth = answer(ch[0], 1)
        status, headers, text = send(auth)
        report(status, headers, text)
        if a.replay:
            status, headers, text = send(auth)
            report(status, headers, text)
    if a.dump:
        text = re.sub(r'nonce="[^"]*"', 'nonce="NONCE"', text)
        text = re.sub(r'tag=[^;>\s]+', 'tag=TAG', text)
        text = re.sub(r'branch=[^;\s]+', 'branch=BRANCH', text)
        text = re.sub(r'Call-ID: .*', 'Call-ID: CALLID', text)
        text = re.sub(r'CSeq: \d+', 'CSeq: N', text)
        text = re.sub(r'rport=\d+', 'rport=PORT', text)
        text = re.sub(r'sip:[^@>;]*@', 'sip:USER@', text)
        text = re.sub(r':%d' % lport, ':LPORT', text)
        sys.stdout.write(text)


main()
