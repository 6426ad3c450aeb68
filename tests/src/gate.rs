//! A gate in front of a TCP port: it forwards every connection to its target while open; cut,
//! it closes the connections it carries and drops new ones at once, and it can refuse just the
//! connections from one source address — network partitions, for tests that advertise the
//! gate's address instead of the port's (and give each process its own source address).

use std::{
    collections::HashSet,
    io,
    net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

#[derive(Default)]
struct Inner {
    target: Mutex<Option<SocketAddr>>,
    cut: AtomicBool,
    refused: Mutex<HashSet<IpAddr>>,
    carried: Mutex<Vec<(IpAddr, TcpStream)>>,
}

impl Inner {
    fn close(&self, which: impl Fn(IpAddr) -> bool) {
        self.carried.lock().expect("lock").retain(|(from, s)| {
            if which(*from) {
                let _ = s.shutdown(Shutdown::Both);
            }
            !which(*from)
        });
    }
}

/// A gate listening on 127.0.0.1.
pub struct Gate {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Gate {
    /// Opens a gate on 127.0.0.1:0 without a target yet (connections are dropped until
    /// [`Gate::forward_to`]).
    pub fn open() -> io::Result<Gate> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let i = inner.clone();
        thread::spawn(move || {
            for incoming in listener.incoming() {
                let Ok(client) = incoming else { continue };
                let Ok(from) = client.peer_addr().map(|a| a.ip()) else {
                    continue;
                };
                let target = *i.target.lock().expect("lock");
                if i.cut.load(Ordering::SeqCst) || i.refused.lock().expect("lock").contains(&from) {
                    continue;
                }
                let Some(Ok(server)) = target.map(TcpStream::connect) else {
                    continue;
                };
                let _ = carry(&i, from, client, server);
            }
        });
        Ok(Gate { addr, inner })
    }

    /// Where the gate listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forwards connections to `target` from now on.
    pub fn forward_to(&self, target: SocketAddr) {
        *self.inner.target.lock().expect("lock") = Some(target);
    }

    /// Closes every connection through the gate and drops new ones.
    pub fn cut(&self) {
        self.inner.cut.store(true, Ordering::SeqCst);
        self.inner.close(|_| true);
    }

    /// Closes the connections from `source` and drops new ones from it.
    pub fn refuse(&self, source: IpAddr) {
        self.inner.refused.lock().expect("lock").insert(source);
        self.inner.close(|from| from == source);
    }

    /// Forwards every connection again.
    pub fn mend(&self) {
        self.inner.cut.store(false, Ordering::SeqCst);
        self.inner.refused.lock().expect("lock").clear();
    }
}

/// Copies both ways between `client` and `server` on two threads, remembering both streams so
/// that a cut can close them.
fn carry(inner: &Inner, from: IpAddr, client: TcpStream, server: TcpStream) -> io::Result<()> {
    let mut carried = inner.carried.lock().expect("lock");
    carried.extend([(from, client.try_clone()?), (from, server.try_clone()?)]);
    for (mut from, mut to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
    Ok(())
}
