# Writes proc-net-tcp.txt and proc-net-tcp6.txt (run as: python3 proc-net-tcp-capture.py, then
# rename tcp and tcp6): a capture of /proc/net/tcp and /proc/net/tcp6 on Linux 6.18.
import socket, time, shutil
# A server on 127.0.0.1:38421 that accepts two connections and reads from neither,
# while three more wait in its accept queue; an IPv6 listener on [::1]:38422 with one
# connection waiting in its accept queue.
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 38421)); srv.listen(16)
clients = []
for i in range(5):
    c = socket.create_connection(("127.0.0.1", 38421)); clients.append(c)
accepted = [srv.accept()[0] for _ in range(2)]
# requests sent on the two accepted connections and on one still queued; none read
for c in clients[:3]:
    c.sendall(b"GET /posts HTTP/1.1\r\nHost: x\r\n\r\n")
# an idle accepted connection with nothing unread
c6srv = socket.socket(socket.AF_INET6); c6srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c6srv.bind(("::1", 38422)); c6srv.listen(8)
c6 = socket.create_connection(("::1", 38422))
c6.sendall(b"GET / HTTP/1.1\r\n\r\n")
time.sleep(0.3)
shutil.copy("/proc/net/tcp", "tcp"); shutil.copy("/proc/net/tcp6", "tcp6")
