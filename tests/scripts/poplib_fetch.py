"""Fetch a POP3 maildrop with Python's poplib, as mail scripts do; print what was seen as JSON.

usage: poplib_fetch.py HOST PORT (stls|ssl) USER PASSWORD CAFILE (keep|delete)
"""
import json
import poplib
import ssl
import sys

host, port, mode, user, password, cafile, action = sys.argv[1:8]
context = ssl.create_default_context(cafile=cafile)
if mode == "ssl":
    pop = poplib.POP3_SSL(host, int(port), context=context)
else:
    pop = poplib.POP3(host, int(port))
    pop.stls(context=context)
pop.user(user)
pop.pass_(password)
count, size = pop.stat()
uidl = [line.decode().split(" ", 1)[1] for line in pop.uidl()[1]]
subjects = []
for n in range(1, count + 1):
    lines = pop.retr(n)[1]
    subject = next((l.decode() for l in lines if l.lower().startswith(b"subject:")), "")
    subjects.append(subject.split(":", 1)[1].strip())
    top = pop.top(n, 0)[1]
    assert b"" in top, "TOP returns the header and the empty line"
    if action == "delete":
        pop.dele(n)
print(json.dumps({"count": count, "size": size, "uidl": uidl, "subjects": subjects, "capa": sorted(pop.capa().keys())}))
pop.quit()
