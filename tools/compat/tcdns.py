#!/usr/bin/python3
# tools/compat/tcdns.py PORT PIDFILE: a DNS server on 127.0.0.1:PORT (UDP
# and TCP) that answers every UDP query with an empty, truncated reply (TC
# set) and the same query over TCP with the answers below, so a resolver
# must fall back to TCP (spec/compat/dns_spec.lua). Debian's python3-dnslib;
# run it with /usr/bin/python3 (the python3 on PATH may not see dist-packages).
import os, socket, struct, sys, threading
from dnslib import DNSRecord, RR, QTYPE, A, TXT

ANSWERS = {  # name -> (type, rdata) per type
    'big.example.test.': [(QTYPE.A, A('127.0.0.%d' % i)) for i in range(1, 41)],
    'txt.big.example.test.': [(QTYPE.TXT, TXT('x' * 200)), (QTYPE.TXT, TXT('y' * 200)),
                              (QTYPE.TXT, TXT('z' * 200))],
}

def answer(data, truncate):
    q = DNSRecord.parse(data)
    r = q.reply()
    if truncate:
        r.header.tc = 1
        return r.pack()
    name = str(q.q.qname)
    for qt, rd in ANSWERS.get(name, []):
        if qt == q.q.qtype:
            r.add_answer(RR(q.q.qname, qt, rdata=rd, ttl=60))
    return r.pack()

def serve_udp(s):
    while True:
        data, peer = s.recvfrom(4096)
        try:
            s.sendto(answer(data, True), peer)
        except Exception as e:
            print('udp:', e, file=sys.stderr)

def serve_tcp_conn(c):
    with c:
        while True:
            hdr = c.recv(2)
            if len(hdr) < 2:
                return
            n, = struct.unpack('!H', hdr)
            data = b''
            while len(data) < n:
                chunk = c.recv(n - len(data))
                if not chunk:
                    return
                data += chunk
            out = answer(data, False)
            c.sendall(struct.pack('!H', len(out)) + out)

def serve_tcp(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_tcp_conn, args=(c,), daemon=True).start()

def main():
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('127.0.0.1', port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(('127.0.0.1', port))
    t.listen(16)
    with open(pidfile, 'w') as f:
        f.write('%d\n' % os.getpid())
    threading.Thread(target=serve_udp, args=(u,), daemon=True).start()
    serve_tcp(t)

main()
