#!/usr/bin/env python3
"""A stand-in for the model hub in tests/e2e/test_pull.sh: serves a folder over HTTP on
127.0.0.1 with Range support. URL paths:
  /<org>/<dir>/resolve/main/<file>   -> ROOT/<dir>/<file>   (hub layout, as the catalog builds it),
                 with no checksum header: what omni pull must refuse unless --insecure
  /cut/<same>    sends only the first half of the body when the request has no Range (a cut connection)
  /slow/<same>   waits 30 s before the body (a stalled server)
  /lfs/<same>    like Hugging Face for an LFS file: a 302 to /cdn/<dir>/<file> carrying
                 X-Linked-Size and X-Linked-ETag ("<sha256>") of the file
  /lfsbad/<same> the same redirect with a wrong X-Linked-ETag
  /cdn/<dir>/<file>  the file itself (Range supported), with an ETag that is not its SHA-256
Usage: hub_server.py ROOT PORTFILE LOGFILE [LIFETIME_S]. Writes the port to PORTFILE,
logs one line per request ("GET path range=...") to LOGFILE, exits after LIFETIME_S (default 300)."""
import hashlib, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
LIFETIME = float(sys.argv[4]) if len(sys.argv) > 4 else 300

class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        with open(LOG, "a") as f:
            f.write("GET %s range=%s\n" % (self.path, rng))
        parts = self.path.split("?")[0].strip("/").split("/")
        mode = parts.pop(0) if parts and parts[0] in ("cut", "slow", "lfs", "lfsbad", "cdn") else ""
        if ".." in parts:
            return self.fail(404)
        if mode == "cdn" and len(parts) == 2:
            path = os.path.join(ROOT, parts[0], parts[1])
        elif mode != "cdn" and len(parts) == 5 and parts[2:4] == ["resolve", "main"]:
            path = os.path.join(ROOT, parts[1], parts[4])
        else:
            return self.fail(404)
        if not os.path.isfile(path):
            return self.fail(404)
        if mode in ("lfs", "lfsbad"):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            if mode == "lfsbad":
                digest = "0" * 64
            self.send_response(302)
            self.send_header("Location", "/cdn/%s/%s" % (parts[1], parts[4]))
            self.send_header("X-Linked-Size", str(os.path.getsize(path)))
            self.send_header("X-Linked-ETag", '"%s"' % digest)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0] or 0)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        if mode == "cdn":
            self.send_header("ETag", '"cdn-%x"' % size)
        self.end_headers()
        if mode == "slow":
            time.sleep(30)
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read()
        if mode == "cut" and not rng:
            body = body[: len(body) // 2]
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def fail(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a client that hangs up mid-transfer (omni pull refusing an unverified file, a
        # cut test) is expected here, not a server error worth a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


srv = Server(("127.0.0.1", 0), Hub)
srv.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
threading.Timer(LIFETIME, srv.shutdown).start()
srv.serve_forever()
