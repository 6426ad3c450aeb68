//! A DNS server for tests (hickory-server on a loopback UDP port) serving one authoritative zone
//! built from A and MX records (TXT records can be added while it runs), and the reverse zone
//! `in-addr.arpa.` with any PTR records, so the queue's MX resolution and the doctor's checks
//! run against real DNS answers.

use std::{net::SocketAddr, str::FromStr, sync::Arc};

use hickory_proto::rr::{
    LowerName, Name, RData, Record,
    rdata::{A, MX, PTR, SOA, TXT},
};
use hickory_server::{
    Server,
    net::runtime::TokioRuntimeProvider,
    store::in_memory::InMemoryZoneHandler,
    zone_handler::{AxfrPolicy, Catalog, ZoneType},
};

/// One record for the zone.
pub enum Rr {
    /// `name A ip`.
    A(&'static str, [u8; 4]),
    /// `name MX preference exchange` (`.` for a null MX).
    Mx(&'static str, u16, &'static str),
    /// `reverse-name PTR target`, e.g. `("1.0.0.127.in-addr.arpa.", "mx.example.test.")`.
    Ptr(&'static str, &'static str),
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("valid DNS name")
}

/// A running test DNS server.
pub struct Dns {
    /// Its UDP address.
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
}

impl Dns {
    /// Adds a TXT record (split into 255-byte strings, as long DKIM keys need).
    pub async fn add_txt(&self, host: &str, text: &str) {
        let strings: Vec<String> = text
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let record = Record::from_rdata(name(&fqdn), 60, RData::TXT(TXT::new(strings)));
        assert!(self.zone.upsert(record, 1).await, "TXT record added");
    }
}

/// An empty primary zone for `origin` with its SOA.
fn zone(origin: &Name) -> InMemoryZoneHandler<TokioRuntimeProvider> {
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        name(&format!("ns.{origin}")),
        name(&format!("hostmaster.{origin}")),
        1,
        3600,
        600,
        86_400,
        60,
    );
    zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1);
    zone
}

/// Serves `origin` (e.g. `test.`) with `records`, and `in-addr.arpa.` with the PTR records,
/// until the test ends.
pub async fn serve(origin: &str, records: &[Rr]) -> anyhow::Result<Dns> {
    let origin_name = name(origin);
    let reverse_name = name("in-addr.arpa.");
    let mut forward = zone(&origin_name);
    let mut reverse = zone(&reverse_name);
    for rr in records {
        let (zone, record) = match rr {
            Rr::A(host, ip) => (
                &mut forward,
                Record::from_rdata(name(host), 60, RData::A(A::new(ip[0], ip[1], ip[2], ip[3]))),
            ),
            Rr::Mx(domain, pref, exchange) => (
                &mut forward,
                Record::from_rdata(name(domain), 60, RData::MX(MX::new(*pref, name(exchange)))),
            ),
            Rr::Ptr(reverse_host, target) => (
                &mut reverse,
                Record::from_rdata(name(reverse_host), 60, RData::PTR(PTR(name(target)))),
            ),
        };
        anyhow::ensure!(zone.upsert_mut(record, 1), "record not added");
    }
    let zone = Arc::new(forward);
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin_name), vec![zone.clone()]);
    catalog.upsert(LowerName::new(&reverse_name), vec![Arc::new(reverse)]);
    let mut server = Server::new(catalog);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = socket.local_addr()?;
    server.register_socket(socket);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    Ok(Dns { addr, zone })
}
