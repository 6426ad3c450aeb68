//! DMARC aggregate report collection on a running server: a gzipped report mailed to an
//! address in `smtp.checks.auth.dmarc_report_addresses` is delivered and kept, once however
//! often it arrives, and `ternctl dmarc reports` and the admin API list what it says; other
//! mail to the address is only counted.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use tern_tests::{Tern, ok, smtp, ternctl};

const TOKEN: &str = "dmarc-token";
const PASSWORD: &str = "demo-password";

const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>4096001</report_id>
    <date_range><begin>1764979200</begin><end>1765065599</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.test</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>127.0.0.5</source_ip><count>10</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results><dkim><domain>example.test</domain><result>pass</result></dkim><spf><domain>example.test</domain><result>pass</result></spf></auth_results>
  </record>
  <record>
    <row>
      <source_ip>192.0.2.9</source_ip><count>3</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results><spf><domain>spoof.test</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let out = child.wait_with_output().expect("gzip");
    assert!(out.status.success());
    out.stdout
}

/// The report as Google mails it: a short text and the gzipped XML as an attachment.
fn report_mail() -> String {
    let gz = STANDARD.encode(gzip(REPORT.as_bytes()));
    let wrapped: Vec<&str> = gz
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64"))
        .collect();
    format!(
        "From: noreply-dmarc-support@google.com\r\nTo: demo@example.test\r\n\
         Subject: Report domain: example.test Submitter: google.com Report-ID: 4096001\r\n\
         Message-ID: <4096001@google.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=r\r\n\r\n--r\r\n\
         Content-Type: text/plain\r\n\r\nThis is an aggregate report from google.com.\r\n--r\r\n\
         Content-Type: application/gzip; name=\"google.com!example.test!1764979200!1765065599.xml.gz\"\r\n\
         Content-Disposition: attachment; filename=\"google.com!example.test!1764979200!1765065599.xml.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--r--\r\n",
        wrapped.join("\r\n")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_mailed_to_the_report_address_are_kept_and_listed() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[(
            "TERN_SMTP__CHECKS__AUTH__DMARC_REPORT_ADDRESSES",
            "Demo@example.test",
        )],
    );
    let stored = "tern_dmarc_reports_total{result=\"stored\"}";
    assert_eq!(tern.metric(stored), 0.0, "exported at 0 from start");
    let send = |message: String| {
        let addr = tern.addr("smtp");
        async move {
            smtp::send_one(
                addr,
                "mail.google.test",
                "noreply-dmarc-support@google.com",
                "demo@example.test",
                &message,
            )
            .await
            .expect("send")
        }
    };
    for _ in 0..2 {
        let r = send(report_mail()).await;
        assert_eq!(r.code, 250, "{}", r.text);
    }
    let r = send(smtp::message(
        "someone@remote.test",
        "demo@example.test",
        "not a report",
        "hello\r\n",
    ))
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    tern.wait_metric(stored, 2.0);
    tern.wait_metric("tern_dmarc_reports_total{result=\"unparsable\"}", 1.0);
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("count"),
        3,
        "reports are delivered as well"
    );

    let v = tern.api(TOKEN, "/dmarc-reports").expect("api");
    let reports = v["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 1, "the same report twice is kept once: {v}");
    let r = &reports[0];
    assert_eq!(
        (
            r["domain"].as_str(),
            r["org"].as_str(),
            r["policy"].as_str()
        ),
        (Some("example.test"), Some("google.com"), Some("reject"))
    );
    assert_eq!(
        (r["messages"].as_u64(), r["failed"].as_u64()),
        (Some(13), Some(3))
    );
    assert_eq!(r["rows"][1]["source_ip"], "192.0.2.9");
    assert_eq!(r["rows"][1]["disposition"], "reject");

    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["dmarc", "reports", "--domain", "example.test"],
    ));
    let line = out
        .lines()
        .find(|l| l.contains("google.com"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("example.test")
            && line.contains("reject")
            && line.contains(" 13 ")
            && line.trim_end().ends_with('3'),
        "{out}"
    );
    let none = tern
        .api(TOKEN, "/dmarc-reports?domain=other.test")
        .expect("api");
    assert_eq!(none["reports"], serde_json::json!([]));
    tern.stop().expect("clean stop");
}
