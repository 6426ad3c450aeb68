"""A mail client's session with Python's imaplib; prints what it saw as JSON.

usage: imaplib_session.py HOST PORT (starttls|ssl|ssl-compress) USER PASSWORD CAFILE
Lists mailboxes, selects INBOX, searches and fetches the unseen messages, flags one, appends
to Sent, copies to Archive, deletes and expunges one, then IDLEs once (the caller delivers
mail meanwhile; the line that ended the IDLE is reported). With ssl-compress, all of it after
login runs under COMPRESS=DEFLATE (RFC 4978), compressed with zlib.
"""
import imaplib
import json
import ssl
import sys
import time
import zlib


class Deflated:
    """Stands in for imaplib's reader and sender: raw deflate each way, a sync flush per send."""

    def __init__(self, sock):
        self.sock = sock
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.buf = b""

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += self.inflate.decompress(data)

    def read(self, size):
        while len(self.buf) < size:
            self._more()
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def readline(self, limit=-1):
        while b"\n" not in self.buf:
            self._more()
        end = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def send(self, data):
        self.sock.sendall(self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH))

    def close(self):
        pass


host, port, mode, user, password, cafile = sys.argv[1:7]
context = ssl.create_default_context(cafile=cafile)
if mode.startswith("ssl"):
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=context)
else:
    m = imaplib.IMAP4(host, int(port))
    m.starttls(ssl_context=context)
out = {"capabilities": sorted(m.capabilities)}
typ, _ = m.login(user, password)
out["login"] = typ
if mode == "ssl-compress":
    imaplib.Commands["COMPRESS"] = ("AUTH", "SELECTED")
    typ, _ = m._simple_command("COMPRESS", "DEFLATE")
    out["compress"] = typ
    m.file = Deflated(m.sock)
    m.send = m.file.send
typ, boxes = m.list()
out["mailboxes"] = sorted(b.decode().rsplit(" ", 1)[1] for b in boxes)
typ, data = m.select("INBOX")
out["exists"] = int(data[0])
typ, data = m.search(None, "UNSEEN")
unseen = data[0].split()
out["unseen"] = len(unseen)
subjects = []
for num in unseen:
    typ, data = m.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] FLAGS)")
    subjects.append(data[0][1].decode().split(":", 1)[1].strip())
out["subjects"] = subjects
m.store(unseen[0], "+FLAGS", "\\Flagged")
typ, data = m.fetch(unseen[0], "(FLAGS)")
out["flags_after_store"] = data[0].decode()
typ, data = m.append("Sent", "\\Seen", imaplib.Time2Internaldate(time.time()),
                     b"From: demo@example.test\r\nTo: x@remote.test\r\nSubject: sent copy\r\n\r\nhi\r\n")
out["append"] = data[0].decode()
typ, data = m.copy(unseen[0], "Archive")
out["copy"] = data[0].decode()
m.store(unseen[-1], "+FLAGS", "\\Deleted")
typ, data = m.expunge()
out["expunged"] = [d.decode() for d in data if d]
typ, data = m.status("Archive", "(MESSAGES)")
out["archive"] = data[0].decode()
# IDLE (imaplib has no idle() before 3.14): raw command, wait for the first untagged line.
tag = m._new_tag().decode()
m.send(f"{tag} IDLE\r\n".encode())
out["idle_continuation"] = m.readline().decode().strip()
print("IDLING", flush=True)
out["idle_event"] = m.readline().decode().strip()
m.send(b"DONE\r\n")
while True:
    line = m.readline().decode().strip()
    if line.startswith(tag):
        out["idle_done"] = line
        break
m.logout()
print(json.dumps(out), flush=True)
