#!/usr/bin/env python3
"""The agent-sandbox runtime HTTP API, served by AstraForge's sandbox image.

agent-sandbox's Python client (k8s-agent-sandbox) talks to a sandbox pod on
port 8888 with: POST /execute {"command"} -> {stdout, stderr, exit_code};
POST /upload (multipart "file"); GET /download/{path}; GET /list/{path};
GET /exists/{path}; GET / (health). This answers the same, so that client
works against pods made from AstraForge's templates. Every path stays inside
/workspace (the pod's working folder); only the standard library is used.
The pod's NetworkPolicy admits only the server (and agent-sandbox's router)
to this port.
"""
import email.parser
import email.policy
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

ROOT = os.environ.get("AF_RUNTIME_ROOT", "/workspace")
MAX_UPLOAD = 512 * 1024 * 1024
EXEC_TIMEOUT = 600


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

    def exists(self, rel: str):
        full = inside(rel)
        self.reply(200, {"path": rel, "exists": bool(full and os.path.exists(full))})


def main():
    host = os.environ.get("POD_IP") or "0.0.0.0"
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
