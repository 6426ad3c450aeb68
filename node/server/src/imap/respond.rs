//! How a session answers: status responses (counted, traced, logged when refused), untagged
//! data, and the one mapping from model errors to the tagged NO a client can act on.

use tern_proto::imap::{
    response::{self, Extra},
    types::{
        core::Tag,
        response::{Code, Data, StatusKind},
    },
};
use tern_store::model::ModelError;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    session::{Flow, NO_SPACE, Session},
};
use crate::trace::{self, Protocol};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Writes a status response; tagged when `tag` is given. Tagged ones end a command and
    /// are counted, as is an untagged BAD (a line too broken to have a tag); untagged OKs
    /// (`* OK [UIDVALIDITY …]`) are data, not results.
    pub(super) fn reply(
        &mut self,
        tag: Option<&Tag<'_>>,
        kind: StatusKind,
        code: Option<Code<'_>>,
        text: &str,
    ) {
        let result = match kind {
            StatusKind::Ok => "ok",
            StatusKind::No => "no",
            StatusKind::Bad => "bad",
        };
        if tag.is_some() || kind == StatusKind::Bad {
            METRICS
                .commands
                .with_label_values(&[self.command, result])
                .inc();
        }
        if kind != StatusKind::Ok {
            tracing::debug!(session = %self.id, command = self.command, result, text, "IMAP refusal");
        }
        if self.traced() {
            let tag = tag.map_or("*", |t| t.as_ref());
            trace::reply(
                &self.id,
                Protocol::Imap,
                &format!("{tag} {} {text}", result.to_ascii_uppercase()),
            );
        }
        response::status(self.conn.out(), tag, kind, code, text);
    }

    /// Tagged OK.
    pub(super) fn ok(&mut self, tag: &Tag<'_>, code: Option<Code<'_>>, text: &str) -> Flow {
        self.reply(Some(tag), StatusKind::Ok, code, text);
        Flow::Continue
    }

    /// Tagged NO.
    pub(super) fn no(&mut self, tag: &Tag<'_>, code: Option<Code<'_>>, text: &str) -> Flow {
        self.reply(Some(tag), StatusKind::No, code, text);
        Flow::Continue
    }

    /// Tagged BAD; counts towards the error limit.
    pub(super) fn bad(&mut self, tag: &Tag<'_>, code: Option<Code<'_>>, text: &str) -> Flow {
        self.errors += 1;
        self.reply(Some(tag), StatusKind::Bad, code, text);
        Flow::Continue
    }

    /// Untagged data.
    pub(super) fn data(&mut self, d: Data<'_>) {
        response::data(self.conn.out(), d);
    }

    /// Writes untagged data followed by extended data.
    pub(super) fn data_extended(&mut self, d: Data<'_>, extended: &str) {
        response::data_extended(self.conn.out(), d, extended);
    }

    /// Turns a model error into the tagged NO a client can act on (the one place this is
    /// decided).
    pub(super) fn fail(&mut self, tag: &Tag<'_>, e: ModelError) -> Flow {
        match e {
            ModelError::NotFound(what) => self.no(
                tag,
                Some(Extra::Nonexistent.code()),
                &format!("{what} does not exist"),
            ),
            ModelError::AlreadyExists(what) => self.no(
                tag,
                Some(Extra::AlreadyExists.code()),
                &format!("{what} already exists"),
            ),
            ModelError::Invalid(why) => self.no(tag, Some(Extra::Cannot.code()), &why),
            ModelError::InUse(why) => self.no(tag, Some(Extra::InUse.code()), &why),
            // As Dovecot answers a full disk: clients keep the message and try later.
            ModelError::Store(e) if e.is_no_space() => {
                tracing::warn!(session = %self.id, command = self.command, error = %e, "refused: low on storage");
                self.no(tag, Some(Code::OverQuota), NO_SPACE)
            }
            ModelError::Store(e) => {
                tracing::error!(session = %self.id, command = self.command, error = %e, "store failure");
                self.no(
                    tag,
                    Some(Extra::Unavailable.code()),
                    "temporary storage failure, nothing was changed; try again",
                )
            }
        }
    }
}
