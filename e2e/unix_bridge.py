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


def inside(path: str, port: int):
    """The namespace's end: 127.0.0.1:PORT to SOCKET, until killed."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s

    _forward(listener, connect)


if __name__ == "__main__":
    inside(sys.argv[1], int(sys.argv[2]))
