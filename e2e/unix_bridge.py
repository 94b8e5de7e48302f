"""A run in a network namespace with only loopback that still reaches the mock.

An agent that reaches out by itself (OpenHands clones a skills repository from
GitHub and asks PyPI for its latest version on every start) runs under
`unshare --net`: nothing but its own loopback exists there. The mock model
server stays in the suite's process; a Unix socket in the sandbox, which a
network namespace does not separate, joins the two:

  agent -> 127.0.0.1:PORT (inside: `python3 unix_bridge.py SOCKET PORT`)
        -> SOCKET -> 127.0.0.1:PORT (outside: `outside(SOCKET, PORT)`, the mock)

The agent's base URL is the mock's own, and every byte is forwarded as is.
"""

import socket
import sys
import threading


def _splice(a, b):
    """Copies both ways until both ends have finished sending, then closes both."""

    def one_way(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    back = threading.Thread(target=one_way, args=(b, a), daemon=True)
    back.start()
    one_way(a, b)
    back.join()
    a.close()
    b.close()


def _forward(listener, connect):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            target = connect()
        except OSError:
            conn.close()
            continue
        threading.Thread(target=_splice, args=(conn, target), daemon=True).start()


def outside(path: str, port: int):
    """The suite's end: SOCKET to the mock on 127.0.0.1:PORT, in a daemon thread. Returns the listener."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    connect = lambda: socket.create_connection(("127.0.0.1", port))  # noqa: E731
    threading.Thread(target=_forward, args=(listener, connect), daemon=True).start()
    return listener


def inside(path: str, port: int, ready: str = None):
    """The namespace's end: 127.0.0.1:PORT to SOCKET, until killed. Creates `ready` once it listens."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    if ready:
        open(ready, "w").close()

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s

    _forward(listener, connect)


def namespaced(path: str, port: int, logs, name: str) -> list:
    """The argv prefix that runs a command in a new network namespace with only loopback up,
    the bridge to the mock listening inside first. `ip -o link` as seen inside goes to
    `<logs>/<name>.links` (see `links_seen`), the bridge's output to `<logs>/<name>.bridge`:
    it outlives the run, and must not hold the run's pipes open."""
    ready = f"{logs}/{name}.bridge-ready"
    inside_sh = (f'ip link set lo up && ip -o link > "{logs}/{name}.links" && '
                 f'{{ "{sys.executable}" "{__file__}" "{path}" {port} "{ready}" </dev/null >"{logs}/{name}.bridge" 2>&1 & }} && '
                 f'n=0; while [ ! -e "{ready}" ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n+1)); done; exec "$@"')
    return ["unshare", "--net", "--map-root-user", "sh", "-c", inside_sh, "sh"]


def links_seen(logs, name: str) -> list:
    """The network interfaces a `namespaced` run saw, by name."""
    path = logs / f"{name}.links"
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted(line.split(":")[1].strip() for line in lines if line.strip())


if __name__ == "__main__":
    inside(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
