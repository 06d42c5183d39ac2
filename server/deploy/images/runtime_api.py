#!/usr/bin/env python3
"""The agent-sandbox runtime HTTP API, served by AstraForge's sandbox image.

agent-sandbox's Python client (k8s-agent-sandbox) talks to a sandbox pod on
port 8888 with: POST /execute {"command"} -> {stdout, stderr, exit_code};
POST /upload (multipart "file"); GET /download/{path}; GET /list/{path};
GET /exists/{path}; GET / (health). This answers the same, so that client
works against pods made from AstraForge's templates. Every path stays inside
/workspace (the pod's working folder); only the standard library is used.
GET /astraforge/runner upgraded to a WebSocket carries af-runner's own byte
stream (binary messages both ways), for a server that reaches pods through
agent-sandbox's router, which proxies HTTP and WebSockets but not raw TCP;
the runner still wants the session's token as its first line.
The pod's NetworkPolicy admits only the server (and agent-sandbox's router)
to this port.
"""
import base64
import email.parser
import email.policy
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

ROOT = os.environ.get("AF_RUNTIME_ROOT", "/workspace")
MAX_UPLOAD = 512 * 1024 * 1024
EXEC_TIMEOUT = 600
RUNNER_PATH = "/astraforge/runner"
RUNNER_PORT = int(os.environ.get("AF_RUNNER_PORT") or 7070)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_WS_MESSAGE = 256 * 1024 * 1024


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (a server's)."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def read_exact(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return data


def ws_read(f):
    """The next frame's opcode and (unmasked) payload."""
    b0, b1 = read_exact(f, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(f, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(f, 8))[0]
    if n > MAX_WS_MESSAGE:
        raise ValueError("frame too large")
    mask = read_exact(f, 4) if b1 & 0x80 else None
    data = read_exact(f, n)
    if mask and n:
        key = (mask * (n // 4 + 1))[:n]
        data = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return b0 & 0x0F, data


def inside(rel: str) -> str | None:
    """The real path of `rel` under ROOT, or None when it leads elsewhere."""
    root = os.path.realpath(ROOT)
    full = os.path.realpath(os.path.join(root, rel.lstrip("/")))
    return full if full == root or full.startswith(root + os.sep) else None


class Handler(BaseHTTPRequestHandler):
    server_version = "astraforge-runtime/1"

    def log_message(self, fmt, *args):  # quiet: the pod's log is not a request log
        pass

    def reply(self, code: int, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_UPLOAD:
            raise ValueError("request too large")
        return self.rfile.read(n)

    def do_GET(self):
        path = unquote(self.path.split("?", 1)[0])
        if path == RUNNER_PATH:
            return self.runner_bridge()
        if path in ("/", "/healthz"):
            return self.reply(200, {"status": "ok", "message": "Sandbox Runtime is active."})
        for prefix, fn in (("/download/", self.download), ("/list/", self.listing), ("/exists/", self.exists)):
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return fn(path[len(prefix):])
        self.reply(404, {"message": "Not found"})

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        try:
            if path == "/execute":
                return self.execute()
            if path == "/upload":
                return self.upload()
        except ValueError as e:
            return self.reply(400, {"message": str(e)})
        self.reply(404, {"message": "Not found"})

    def execute(self):
        req = json.loads(self.body() or b"{}")
        command = req.get("command")
        if not isinstance(command, str):
            raise ValueError('"command" must be a string')
        try:
            p = subprocess.run(["/bin/bash", "-c", command], cwd=ROOT, capture_output=True, timeout=EXEC_TIMEOUT)
            out = {"stdout": p.stdout.decode(errors="replace"), "stderr": p.stderr.decode(errors="replace"), "exit_code": p.returncode}
        except subprocess.TimeoutExpired:
            out = {"stdout": "", "stderr": f"timed out after {EXEC_TIMEOUT} s", "exit_code": 124}
        self.reply(200, out)

    def upload(self):
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ValueError("expected multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body()
        )
        saved = []
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") != "file":
                continue
            name = os.path.basename(part.get_filename() or "")
            target = inside(name) if name else None
            if not target or target == os.path.realpath(ROOT):
                raise ValueError("a file name inside the workspace is required")
            with open(target, "wb") as f:
                f.write(part.get_payload(decode=True) or b"")
            saved.append(name)
        if not saved:
            raise ValueError('no "file" part')
        self.reply(200, {"message": f"File '{saved[0]}' uploaded successfully."})

    def download(self, rel: str):
        full = inside(rel)
        if not full or not os.path.isfile(full):
            return self.reply(404, {"message": "File not found"})
        with open(full, "rb") as f:
            self.reply(200, f.read(), "application/octet-stream")

    def listing(self, rel: str):
        full = inside(rel)
        if not full or not os.path.isdir(full):
            return self.reply(404, {"message": "Directory not found"})
        entries = []
        for e in sorted(os.scandir(full), key=lambda e: e.name):
            st = e.stat(follow_symlinks=False)
            kind = "directory" if e.is_dir(follow_symlinks=False) else "file"
            entries.append({"name": e.name, "size": st.st_size, "type": kind, "mod_time": st.st_mtime})
        self.reply(200, entries)

    def runner_bridge(self):
        """The WebSocket's binary messages to af-runner's TCP port and its bytes back, until either side closes."""
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            return self.reply(400, {"message": "a WebSocket upgrade is required"})
        try:
            upstream = socket.create_connection((os.environ.get("POD_IP") or "127.0.0.1", RUNNER_PORT), timeout=5)
        except OSError as e:
            return self.reply(502, {"message": f"the runner does not answer: {e}"})
        upstream.settimeout(None)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        client = self.connection
        lock = threading.Lock()

        def send(opcode: int, payload: bytes):
            with lock:
                client.sendall(ws_frame(opcode, payload))

        def runner_to_client():
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    send(0x2, data)
                send(0x8, struct.pack(">H", 1000))
            except OSError:
                pass
            finally:
                try:
                    client.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        down = threading.Thread(target=runner_to_client, daemon=True)
        down.start()
        try:
            while True:
                opcode, payload = ws_read(self.rfile)
                if opcode == 0x8:
                    break
                if opcode == 0x9:
                    send(0xA, payload)
                elif opcode in (0x0, 0x1, 0x2):
                    upstream.sendall(payload)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            upstream.close()
            down.join(5)

    def exists(self, rel: str):
        full = inside(rel)
        self.reply(200, {"path": rel, "exists": bool(full and os.path.exists(full))})


def main():
    host = os.environ.get("POD_IP") or "0.0.0.0"
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
