//! CAPABILITY: what this session may use now (STARTTLS and LOGINDISABLED before TLS, the
//! extensions after login); also sent as a response code in the greeting and after login.

use tern_proto::imap::types::{
    auth::AuthMechanism,
    core::{Atom, Tag, Vec1},
    extensions::compress::CompressionAlgorithm,
    extensions::quota::Resource,
    response::{Capability, Code, Data},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

fn atom(s: &str) -> Capability<'static> {
    Capability::from(Atom::try_from(s.to_string()).expect("capability names are atoms"))
}

/// The capabilities of `s` in its current state.
pub fn list<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &Session<S>) -> Vec1<Capability<'static>> {
    let mut caps = vec![Capability::Imap4Rev1, atom("IMAP4rev2")];
    if s.account.is_none() {
        if !s.conn.is_tls() && s.ctx.tls.is_some() {
            caps.push(Capability::StartTls);
        }
        if s.plaintext_allowed() {
            caps.push(Capability::Auth(AuthMechanism::Plain));
        } else {
            caps.push(Capability::LoginDisabled);
        }
    }
    caps.extend([
        Capability::SaslIr,
        Capability::LiteralPlus,
        Capability::Id,
        Capability::Enable,
        Capability::Idle,
        Capability::Namespace,
        Capability::Unselect,
        Capability::UidPlus,
        Capability::Move,
        Capability::Binary,
        Capability::CondStore,
        Capability::QResync,
        Capability::Quota,
        Capability::QuotaRes(Resource::Storage),
        Capability::QuotaRes(Resource::Message),
        atom("SPECIAL-USE"),
        atom("CREATE-SPECIAL-USE"),
        Capability::ListExtended,
        atom("LIST-STATUS"),
        atom("STATUS=SIZE"),
        atom("UTF8=ACCEPT"),
        atom("ESEARCH"),
        atom("MULTIAPPEND"),
        atom("CATENATE"),
        atom("SORT"),
        atom("SORT=DISPLAY"),
        atom("ESORT"),
        atom("CONTEXT=SEARCH"),
        atom("CONTEXT=SORT"),
        atom("NOTIFY"),
        atom("THREAD=ORDEREDSUBJECT"),
        atom("THREAD=REFERENCES"),
        atom(&format!("APPENDLIMIT={}", s.ctx.config.max_append_bytes)),
    ]);
    if s.account.is_some() && s.ctx.config.compress_level.is_some() && !s.conn.is_compressed() {
        caps.push(Capability::Compress {
            algorithm: CompressionAlgorithm::Deflate,
        });
    }
    Vec1::try_from(caps).expect("never empty")
}

/// The list as a response code.
pub fn code<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &Session<S>) -> Code<'static> {
    Code::Capability(list(s))
}

/// Handles `CAPABILITY`.
pub fn handle_capability<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    let caps = list(s);
    s.data(Data::Capability(caps));
    s.ok(&tag, None, "CAPABILITY completed")
}
