//! Authentication of inbound mail on a running server (`"auth"` in `smtp.checks.mx`), against
//! a DNS zone the test serves: SPF pass, fail, softfail, none and permerror of the MAIL FROM
//! domain; DKIM pass (Ed25519 and RSA) and fail; DMARC reject (`550 5.7.1` naming the domain),
//! quarantine (filed into Junk with `$Junk` and `X-Tern-Junk`) and none, with aligned and
//! unaligned identities; an ARC chain sealed by a trusted forwarder overriding a DMARC failure,
//! and the same chain from an untrusted sealer not; a domain set to `report` only marking.
//! Every accepted message carries one `Authentication-Results` under the server's
//! authserv-id, and the forged one and the `X-Spam-*` field the sender wrote are gone.

use std::{path::Path, process::Command};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults,
    arc::ArcSealer,
    common::{
        crypto::{Ed25519Key, RsaKey, Sha256},
        headers::HeaderWriter,
    },
};
use rustls_pki_types::{PrivateKeyDer, pem::PemObject};
use tern_tests::{Tern, dkim, dns, imap, smtp};

const TOKEN: &str = "auth-token";
const PASSWORD: &str = "demo-password";
const ID: &str = "mx.example.test";

/// The test's keys: an Ed25519 one (ring) and an RSA one (openssl), published in the zone.
struct Keys {
    ed: Vec<u8>,
    rsa_pem: String,
}

impl Keys {
    fn ed(&self) -> Ed25519Key {
        dkim::ed25519(&self.ed)
    }
    fn rsa(&self) -> RsaKey<Sha256> {
        RsaKey::<Sha256>::from_key_der(
            PrivateKeyDer::from_pem_slice(self.rsa_pem.as_bytes()).expect("pem"),
        )
        .expect("rsa key")
    }
}

/// The zone: SPF, DKIM keys and DMARC policies of the sending domains.
async fn zone(dir: &Path) -> (dns::Dns, Keys) {
    let dns = dns::serve("test.", &[]).await.expect("dns");
    let (ed, ed_record) = dkim::ed25519_key();
    let pem = tern_tests::certs::rsa_key(dir);
    let spki = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .expect("openssl runs");
    assert!(spki.status.success());
    let rsa_public = STANDARD.encode(spki.stdout);
    let rsa_pem = std::fs::read_to_string(&pem).expect("pem");
    for (name, text) in [
        // Passes SPF from 127.0.0.1; DMARC reject; keys for both algorithms.
        ("sender.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("mail.sender.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("_dmarc.sender.test", "v=DMARC1; p=reject"),
        ("ed._domainkey.sender.test", &ed_record),
        (
            "rsa._domainkey.sender.test",
            &format!("v=DKIM1; k=rsa; p={rsa_public}"),
        ),
        // Fails SPF everywhere, DMARC reject / quarantine / none.
        ("strict.test", "v=spf1 -all"),
        ("_dmarc.strict.test", "v=DMARC1; p=reject"),
        ("quarantine.test", "v=spf1 -all"),
        ("_dmarc.quarantine.test", "v=DMARC1; p=quarantine"),
        ("soft.test", "v=spf1 ~all"),
        ("_dmarc.soft.test", "v=DMARC1; p=none"),
        // An SPF record that cannot be evaluated (it includes itself).
        ("broken.test", "v=spf1 include:broken.test -all"),
        // Passes SPF but is not the From domain's.
        ("other.test", "v=spf1 ip4:127.0.0.1 -all"),
        // Forwarders sealing with ARC.
        (
            "arc._domainkey.lists.test",
            &format!("v=DKIM1; k=rsa; p={rsa_public}"),
        ),
        (
            "arc._domainkey.rogue.test",
            &format!("v=DKIM1; k=rsa; p={rsa_public}"),
        ),
    ] {
        dns.add_txt(name, text).await;
    }
    (dns, Keys { ed, rsa_pem })
}

fn message(from: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <demo@example.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@test>\r\n\r\nthe body of {subject}\r\n"
    )
}

/// `message` with a DKIM signature of `domain` by `selector`.
fn signed(message: &str, domain: &str, selector: &str, keys: &Keys) -> String {
    match selector {
        "ed" => dkim::sign(keys.ed(), message, domain, selector),
        _ => dkim::sign(keys.rsa(), message, domain, selector),
    }
}

/// `message` as forwarder `domain` passes it on: ARC-sealed (the first set of a chain).
async fn sealed(message: &str, domain: &str, keys: &Keys) -> String {
    let parsed = AuthenticatedMessage::parse(message.as_bytes()).expect("parse");
    // No chain yet: verifying it needs no DNS.
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .expect("resolver")
        .build()
        .expect("resolver");
    let arc = mail_auth::MessageAuthenticator(resolver)
        .verify_arc(&parsed)
        .await;
    assert!(arc.can_be_sealed());
    let results = AuthenticationResults::new(domain);
    let set = ArcSealer::from_key(keys.rsa())
        .domain(domain)
        .selector("arc")
        .headers(["From", "To", "Subject", "Message-ID"])
        .seal(&parsed, &results, &arc)
        .expect("seal");
    format!("{}{message}", set.to_header())
}

/// Sends `message` with MAIL FROM `sender` to demo; the final reply's code and text.
async fn send(tern: &Tern, sender: &str, message: &str) -> (u16, String) {
    let r = smtp::send_one(
        tern.addr("smtp"),
        "client.sender.test",
        sender,
        "demo@example.test",
        message,
    )
    .await
    .expect("transaction");
    (r.code, r.text)
}

/// The header sections of the messages in `mailbox`, with their flags, in UID order.
async fn headers(c: &mut imap::Client, mailbox: &str) -> Vec<String> {
    let r = c.cmd(&format!("EXAMINE {mailbox}")).await.expect("examine");
    assert!(r.ok(), "{}", r.all());
    let r = c
        .cmd("FETCH 1:* (FLAGS BODY.PEEK[HEADER])")
        .await
        .expect("fetch");
    if !r.ok() {
        return Vec::new(); // an empty mailbox
    }
    r.untagged
        .into_iter()
        .filter(|l| l.contains(" FETCH ("))
        .collect()
}

/// A dev server asking `dns`, with "auth" on the MX listener, `extra` environment and `toml`
/// as its configuration file (when not empty).
fn start(dns: &dns::Dns, extra: &[(&str, &str)], toml: &str) -> (tempfile::TempDir, Tern) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = dns.addr.to_string();
    let mut env = vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
        ("TERN_QUEUE__DNS_SERVER", server.as_str()),
        ("TERN_SMTP__CHECKS__MX", "ip_lists,auth"),
        ("TERN_SMTP__CHECKS__AUTH__AUTHSERV_ID", ID),
    ];
    env.extend_from_slice(extra);
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, toml).expect("config");
    let config = config.to_str().expect("utf-8 path").to_string();
    let tern = Tern::start(dir.path(), &["--dev", "--config", &config], &env).expect("tern starts");
    (dir, tern)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_dkim_and_dmarc_results_are_recorded_and_dmarc_policies_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (dns, keys) = zone(dir.path()).await;
    let (_dir, tern) = start(&dns, &[], "");
    let metric = |method: &str, result: &str| {
        tern.metric(&format!(
            "tern_smtp_auth_results_total{{method=\"{method}\",result=\"{result}\"}}"
        ))
    };
    assert_eq!(metric("dmarc", "fail"), 0.0, "exported at 0 from start");
    let lookups = |result: &str| {
        tern.metric(&format!(
            "tern_dns_cache_lookups_total{{result=\"{result}\"}}"
        ))
    };
    assert_eq!((lookups("hit"), lookups("miss")), (0.0, 0.0));

    // Aligned SPF and DKIM (Ed25519), with a forged result and spam verdict of our own.
    let forged = format!(
        "Authentication-Results: {ID}; dkim=pass header.d=strict.test\r\n\
         X-Spam-Status: No, score=-50\r\n{}",
        message("alice@sender.test", "aligned")
    );
    let (code, text) = send(
        &tern,
        "alice@sender.test",
        &signed(&forged, "sender.test", "ed", &keys),
    )
    .await;
    assert_eq!(code, 250, "{text}");
    // RSA-signed, MAIL FROM a subdomain (relaxed alignment).
    let m = signed(
        &message("alice@sender.test", "rsa"),
        "sender.test",
        "rsa",
        &keys,
    );
    assert_eq!(send(&tern, "bounce@mail.sender.test", &m).await.0, 250);
    // Signed with a key other than the published one: DKIM fails, SPF still passes aligned.
    let other = Keys {
        ed: Ed25519Key::generate_pkcs8().expect("generate"),
        rsa_pem: keys.rsa_pem.clone(),
    };
    let m = signed(
        &message("alice@sender.test", "wrong-key"),
        "sender.test",
        "ed",
        &other,
    );
    assert_eq!(send(&tern, "alice@sender.test", &m).await.0, 250);
    // A changed body; SPF still passes aligned, so DMARC passes.
    let m = signed(
        &message("alice@sender.test", "tampered"),
        "sender.test",
        "ed",
        &keys,
    )
    .replace("the body of tampered", "a changed body");
    assert_eq!(send(&tern, "alice@sender.test", &m).await.0, 250);
    // DMARC p=reject, SPF fails and nothing is signed.
    let (code, text) = send(
        &tern,
        "x@strict.test",
        &message("x@strict.test", "rejected"),
    )
    .await;
    assert_eq!(code, 550, "{text}");
    assert!(
        text.starts_with("550 5.7.1 DMARC: the policy of strict.test rejects this message"),
        "{text}"
    );
    // SPF passes for other.test, but From is sender.test's: not aligned, rejected.
    let (code, text) = send(
        &tern,
        "x@other.test",
        &message("alice@sender.test", "unaligned"),
    )
    .await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("policy of sender.test"), "{text}");
    // DMARC p=quarantine: into Junk.
    let (code, _) = send(
        &tern,
        "x@quarantine.test",
        &message("x@quarantine.test", "junk"),
    )
    .await;
    assert_eq!(code, 250);
    // p=none with SPF softfail; no SPF record at all; an SPF record in error.
    assert_eq!(
        send(&tern, "x@soft.test", &message("x@soft.test", "soft"))
            .await
            .0,
        250
    );
    assert_eq!(
        send(&tern, "x@nospf.test", &message("x@nospf.test", "nospf"))
            .await
            .0,
        250
    );
    assert_eq!(
        send(&tern, "x@broken.test", &message("x@broken.test", "broken"))
            .await
            .0,
        250
    );

    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let inbox = headers(&mut c, "INBOX").await;
    let find = |subject: &str| {
        inbox
            .iter()
            .find(|h| h.contains(&format!("Subject: {subject}\r\n")))
            .unwrap_or_else(|| panic!("{subject} in INBOX: {inbox:?}"))
            .clone()
    };
    let aligned = find("aligned");
    assert_eq!(
        aligned.matches("Authentication-Results:").count(),
        1,
        "{aligned}"
    );
    assert!(
        !aligned.contains("X-Spam-Status") && !aligned.contains("header.d=strict.test"),
        "{aligned}"
    );
    for want in [
        &format!("Authentication-Results: {ID};"),
        "dkim=pass header.d=sender.test header.s=ed",
        "spf=pass",
        "smtp.mailfrom=alice@sender.test",
        "dmarc=pass header.from=sender.test policy.dmarc=reject",
    ] {
        assert!(aligned.contains(want), "{want}: {aligned}");
    }
    let rsa = find("rsa");
    assert!(
        rsa.contains("dkim=pass header.d=sender.test header.s=rsa"),
        "{rsa}"
    );
    assert!(rsa.contains("dmarc=pass"), "{rsa}");
    let forged = find("wrong-key");
    assert!(
        forged.contains("dkim=fail") && forged.contains("dmarc=pass"),
        "{forged}"
    );
    let tampered = find("tampered");
    assert!(
        tampered.contains("dkim=neutral (body hash did not verify)")
            && tampered.contains("dmarc=pass"),
        "{tampered}"
    );
    let soft = find("soft");
    assert!(
        soft.contains("spf=softfail") && soft.contains("dmarc=fail"),
        "{soft}"
    );
    assert!(soft.contains("policy.dmarc=none"), "{soft}");
    let nospf = find("nospf");
    assert!(
        nospf.contains("spf=none") && nospf.contains("dmarc=none"),
        "{nospf}"
    );
    assert!(find("broken").contains("spf=permerror"), "{inbox:?}");
    assert!(
        !inbox
            .iter()
            .any(|h| h.contains("Subject: junk\r\n") || h.contains("Subject: rejected")),
        "{inbox:?}"
    );
    let junk = headers(&mut c, "Junk").await;
    assert_eq!(junk.len(), 1, "{junk:?}");
    assert!(
        junk[0].contains("Subject: junk\r\n") && junk[0].contains("$Junk"),
        "{junk:?}"
    );
    assert!(
        junk[0].contains("X-Tern-Junk: DMARC policy of quarantine.test")
            && junk[0].contains("policy.dmarc=quarantine"),
        "{junk:?}"
    );

    assert_eq!(metric("dmarc", "fail"), 4.0);
    // Records asked for again came from the resolver's cache.
    assert!(lookups("miss") > 0.0, "{}", lookups("miss"));
    assert!(lookups("hit") > 0.0, "{}", lookups("hit"));
    assert_eq!(metric("dkim", "pass"), 2.0);
    assert_eq!(metric("spf", "permerror"), 1.0);
    assert_eq!(
        tern.metric("tern_smtp_dmarc_actions_total{action=\"reject\"}"),
        2.0
    );
    assert_eq!(
        tern.metric("tern_smtp_dmarc_actions_total{action=\"junk\"}"),
        1.0
    );
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_arc_sealer_vouches_for_forwarded_mail_and_report_mode_only_marks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (dns, keys) = zone(dir.path()).await;
    let (_dir, tern) = start(
        &dns,
        &[("TERN_SMTP__CHECKS__AUTH__ARC_TRUSTED_SEALERS", "lists.test")],
        "",
    );
    // strict.test mail forwarded by a list: SPF is the list's, nothing is signed by strict.test.
    let original = message("x@strict.test", "via-list");
    let trusted = sealed(&original, "lists.test", &keys).await;
    let (code, text) = send(&tern, "bounce@lists.test", &trusted).await;
    assert_eq!(code, 250, "{text}");
    let rogue = sealed(&message("x@strict.test", "via-rogue"), "rogue.test", &keys).await;
    let (code, text) = send(&tern, "bounce@rogue.test", &rogue).await;
    assert_eq!(code, 550, "an untrusted sealer does not vouch: {text}");
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let inbox = headers(&mut c, "INBOX").await;
    let via = inbox
        .iter()
        .find(|h| h.contains("Subject: via-list"))
        .unwrap_or_else(|| panic!("{inbox:?}"));
    assert!(
        via.contains("arc=pass") && via.contains("dmarc=fail"),
        "{via}"
    );
    assert_eq!(
        tern.metric("tern_smtp_dmarc_actions_total{action=\"arc_override\"}"),
        1.0
    );
    tern.stop().expect("clean stop");

    // example.test only reports: the rejected domain's mail is accepted with its result.
    let (_dir, tern) = start(
        &dns,
        &[],
        "[smtp.checks.auth.dmarc_domains]\n\"example.test\" = \"report\"\n",
    );
    let (code, text) = send(
        &tern,
        "x@strict.test",
        &message("x@strict.test", "reported"),
    )
    .await;
    assert_eq!(code, 250, "{text}");
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let inbox = headers(&mut c, "INBOX").await;
    assert!(
        inbox
            .iter()
            .any(|h| h.contains("Subject: reported") && h.contains("dmarc=fail")),
        "{inbox:?}"
    );
    tern.stop().expect("clean stop");
}
