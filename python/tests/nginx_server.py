"""A real nginx (Debian's `nginx`) serving a folder on 127.0.0.1 at a free
port, started and stopped by the tests, with an access log that records each
request's Range header, status and body bytes."""

import os
import shutil
import socket
import subprocess
import time

CONF = """daemon off;
master_process on;
worker_processes 1;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format ranges '$connection $request_method $uri $status $body_bytes_sent "$http_range"';
    server {{
        listen 127.0.0.1:{port};
        root {root};
        access_log {tmp}/access.log ranges;
        location / {{ }}
    }}
}}
"""


def nginx_binary():
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, root, tmp):
        self.root, self.tmp = str(root), str(tmp)
        os.makedirs(self.tmp, exist_ok=True)
        self.port = free_port()
        user = ""
        if os.geteuid() == 0:  # workers would drop to "nobody", who may not read a private temp dir
            import pwd
            import grp
            user = "user %s %s;" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as fh:
            fh.write(CONF.format(user=user, tmp=self.tmp, port=self.port, root=self.root))
        self.proc = subprocess.Popen([nginx_binary(), "-c", conf, "-p", self.tmp, "-e", self.tmp + "/error.log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                    self.stop()
                    raise RuntimeError("nginx did not start: %s %s" % (err, self.error_log()))
                time.sleep(0.05)
        self.url = "http://127.0.0.1:%d/" % self.port

    def error_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log")) as fh:
                return fh.read()
        except OSError:
            return ""

    def log(self, settle=0.3):
        """[(method, uri, status, bytes, range, connection serial number)] so far.  nginx
        writes a request's line after sending the response, so a client can be done
        before its last line is there: wait until the log has not grown for `settle` s."""
        deadline = time.time() + 10
        last, since = None, time.time()
        while True:
            lines = self._read_log()
            if lines != last:
                last, since = lines, time.time()
            elif time.time() - since >= settle or time.time() > deadline:
                return lines
            time.sleep(0.02)

    def _read_log(self):
        path = os.path.join(self.tmp, "access.log")
        if not os.path.exists(path):
            return []
        out = []
        with open(path) as fh:
            for line in fh:
                conn, method, uri, status, n, rng = line.rstrip("\n").split(" ", 5)
                out.append((method, uri, int(status), int(n), rng.strip('"'), int(conn)))
        return out

    def clear_log(self):
        self.log()  # let lines of requests already answered arrive first
        open(os.path.join(self.tmp, "access.log"), "w").close()
        # nginx keeps the file open: truncation is seen by it, appends go on from 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
