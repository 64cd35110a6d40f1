#!/usr/bin/env python3
"""Makes one fixture: a 3-node nats-server cluster on 127.0.0.1, some R3 streams and
consumers, a hard kill, a restart (so the groups snapshot on recovery), more traffic, a
second hard kill, and a copy of node n1's `jetstream/` directory.

    gen.py VERSION OUT_DIR [--key KEY --cipher chacha|aes]

Every process started here is killed (SIGKILL) by pid before the script returns.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = "/work/main/target/nats-server/{v}/bin/nats-server"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Client:
    """A tiny NATS text-protocol client: CONNECT, PUB/HPUB, SUB, MSG/HMSG."""

    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.readline()  # INFO
        connect = {"user": user, "pass": password, "verbose": False, "pedantic": False,
                   "headers": True, "no_responders": True, "protocol": 1}
        self.send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        while True:
            line = self.readline()
            if line.startswith(b"-ERR"):
                raise RuntimeError(line)
            if line == b"PONG":
                break
        self.n = 0
        self.send(b"SUB _INBOX.fix.* 1\r\n")

    def send(self, b):
        self.sock.sendall(b)

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise RuntimeError("connection closed")
        self.buf += d

    def readline(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def readn(self, n):
        while len(self.buf) < n + 2:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def next_msg(self):
        while True:
            line = self.readline()
            if line == b"PING":
                self.send(b"PONG\r\n")
                continue
            if line.startswith(b"MSG "):
                parts = line.split()
                n = int(parts[-1])
                self.reply = parts[3] if len(parts) == 5 else None
                return parts[1], b"", self.readn(n)
            if line.startswith(b"HMSG "):
                parts = line.split()
                hl, tl = int(parts[-2]), int(parts[-1])
                d = self.readn(tl)
                self.reply = parts[3] if len(parts) == 6 else None
                return parts[1], d[:hl], d[hl:]
            if line.startswith(b"-ERR"):
                raise RuntimeError(line)

    def request(self, subj, body, hdrs=None, timeout=5.0):
        self.n += 1
        inbox = "_INBOX.fix.%d" % self.n
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        if hdrs:
            h = b"NATS/1.0\r\n" + b"".join(k.encode() + b": " + v.encode() + b"\r\n" for k, v in hdrs.items()) + b"\r\n"
            self.send(b"HPUB %s %s %d %d\r\n" % (subj.encode(), inbox.encode(), len(h), len(h) + len(payload)) + h + payload + b"\r\n")
        else:
            self.send(b"PUB %s %s %d\r\n" % (subj.encode(), inbox.encode(), len(payload)) + payload + b"\r\n")
        self.sock.settimeout(timeout)
        while True:
            s, h, d = self.next_msg()
            if s.decode() == inbox:
                return h, d

    def api(self, subj, body, tries=40):
        for _ in range(tries):
            try:
                h, d = self.request(subj, body)
            except socket.timeout:
                time.sleep(0.5)
                continue
            if b"503" in h:  # no responders yet
                time.sleep(0.5)
                continue
            r = json.loads(d) if d else {}
            err = r.get("error")
            if err and err.get("code") in (503, 500) or err and err.get("err_code") in (10008, 10074):
                time.sleep(0.5)
                continue
            return r
        raise RuntimeError("API %s never answered well" % subj)

    def close(self):
        self.sock.close()


def start(version, root, ports, key, cipher, sysacc):
    procs = []
    for i in range(3):
        d = os.path.join(root, "n%d" % (i + 1))
        os.makedirs(d, exist_ok=True)
        others = ", ".join("nats-route://127.0.0.1:%d" % ports[j][1] for j in range(3) if j != i)
        crypt = ""
        if key:
            crypt = ", key: %s, cipher: %s" % (json.dumps(key), cipher)
        conf = (
            "server_name: n%d\nlisten: 127.0.0.1:%d\n"
            "jetstream { store_dir: %s, max_memory_store: 64MB, max_file_store: 1GB%s }\n"
            "cluster { name: C1, listen: 127.0.0.1:%d, routes: [%s] }\n"
            "accounts {\n  A: { jetstream: enabled, users: [ { user: a, password: a } ] }\n"
            "  B: { jetstream: enabled, users: [ { user: b, password: b } ] }\n"
            "%s}\n%s"
        ) % (i + 1, ports[i][0], json.dumps(os.path.join(d, "store")), crypt, ports[i][1], others,
             "  SYS: { users: [ { user: sys, password: sys } ] }\n" if sysacc else "",
             "system_account: SYS\n" if sysacc else "")
        cf = os.path.join(d, "n.conf")
        with open(cf, "w") as f:
            f.write(conf)
        log = open(os.path.join(d, "log.txt"), "ab")
        p = subprocess.Popen([BIN.format(v=version), "-c", cf], stdout=log, stderr=log)
        procs.append(p)
    return procs


def kill(procs):
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait()


def connect(ports, user):
    deadline = time.time() + 20
    while True:
        try:
            return Client(ports[0][0], user, user)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def main():
    version, out = sys.argv[1], sys.argv[2]
    key = cipher = None
    sysacc = "--sys" in sys.argv
    if "--key" in sys.argv:
        key = sys.argv[sys.argv.index("--key") + 1]
        cipher = sys.argv[sys.argv.index("--cipher") + 1]
    root = tempfile.mkdtemp(prefix="raftfix-")
    ports = [(free_port(), free_port()) for _ in range(3)]
    procs = []
    try:
        procs = start(version, root, ports, key, cipher, sysacc)
        c = connect(ports, "a")
        r = c.api("$JS.API.STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"], "num_replicas": 3, "storage": "file"})
        assert "error" not in r, r
        r = c.api("$JS.API.STREAM.CREATE.LOGS", {"name": "LOGS", "subjects": ["logs.>"], "num_replicas": 3, "storage": "file",
                                                  "compression": "s2", "max_bytes": 100000})
        assert "error" not in r, r
        for i in range(1, 21):
            hdrs = {"Nats-Msg-Id": "o%d" % i} if i % 2 == 0 else None
            _, d = c.request("orders.new", b"order %d" % i, hdrs)
            assert b"error" not in d, d
        for i in range(1, 81):
            _, d = c.request("logs.app", (b"log line %04d " % i) + b"lorem ipsum dolor sit amet " * 40)
            assert b"error" not in d, d
        r = c.api("$JS.API.CONSUMER.CREATE.ORDERS.PROC", {"stream_name": "ORDERS", "config": {
            "durable_name": "PROC", "ack_policy": "explicit", "num_replicas": 3}})
        assert "error" not in r, r
        # Pull 5, ack 3.
        c.n += 1
        inbox = "_INBOX.fix.%d" % c.n
        nxt = b'{"batch":5}'
        c.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.ORDERS.PROC %s %d\r\n%s\r\n" % (inbox.encode(), len(nxt), nxt))
        got = []
        while len(got) < 5:
            s, h, d = c.next_msg()
            if c.reply:
                got.append(c.reply)
        for ack in got[:3]:
            c.send(b"PUB %s 4\r\n+ACK\r\n" % ack)
        time.sleep(0.5)
        c.api("$JS.API.STREAM.MSG.DELETE.ORDERS", {"seq": 2})
        c.api("$JS.API.STREAM.MSG.DELETE.ORDERS", {"seq": 3, "no_erase": True})
        c.api("$JS.API.STREAM.MSG.DELETE.LOGS", {"seq": 1, "no_erase": True})
        c.close()
        b = connect(ports, "b")
        r = b.api("$JS.API.STREAM.CREATE.KV_cfg", {"name": "KV_cfg", "subjects": ["$KV.cfg.>"], "num_replicas": 3,
                                                    "storage": "file", "max_msgs_per_subject": 1, "allow_rollup_hdrs": True,
                                                    "deny_delete": True, "allow_direct": True})
        assert "error" not in r, r
        for k in ["a", "b", "a"]:
            b.request("$KV.cfg." + k, b"value of " + k.encode())
        b.close()
        time.sleep(1.5)
        kill(procs)
        # Restart: recovery ends with snapshots; then some more traffic lands in the WALs.
        procs = start(version, root, ports, key, cipher, sysacc)
        c = connect(ports, "a")
        r = c.api("$JS.API.STREAM.INFO.ORDERS", {})
        for i in range(21, 26):
            for _ in range(40):
                _, d = c.request("orders.new", b"order %d" % i)
                if b"error" not in d:
                    break
                time.sleep(0.5)
        r = c.api("$JS.API.STREAM.CREATE.EVENTS", {"name": "EVENTS", "subjects": ["events.>"], "num_replicas": 3, "storage": "file"})
        assert "error" not in r, r
        c.request("events.one", b"event one")
        c.close()
        time.sleep(1.5)
        kill(procs)
        dst = os.path.join(out, "jetstream")
        if os.path.exists(dst):
            shutil.rmtree(dst)
        shutil.copytree(os.path.join(root, "n1", "store", "jetstream"), dst, symlinks=True)
        shutil.copy(os.path.join(root, "n1", "log.txt"), os.path.join(out, "n1.log"))
    finally:
        kill(procs)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
