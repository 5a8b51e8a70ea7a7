//! End to end: `tls://` (DNS over TLS, RFC 7858) and `https://` (DNS over HTTPS, RFC 8484)
//! server blocks with the `tls` plugin, asked by real clients (kdig from knot-dnsutils, curl):
//! the same chain and metrics as `dns://`, client certificates, a renewed certificate served.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::{Server, TempDir, client_cert_pem, free_port, http_get, self_signed_pem, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// kdig's output, or None where knot-dnsutils is not installed (unless CI requires it).
fn kdig(args: &[String]) -> Option<String> {
    match Command::new("kdig").args(args).output() {
        Ok(out) => {
            Some(String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => {
            assert!(
                std::env::var_os("CLUSTERDNS_REQUIRE_KNOT").is_none(),
                "kdig is required (CLUSTERDNS_REQUIRE_KNOT is set): {e}"
            );
            eprintln!("kdig not installed: the DoT and DoH tests are skipped");
            None
        }
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// kdig's A query for example.org over TLS to `port`, the server's certificate checked against
/// `server_ca`, with a client certificate and key if given.
fn dot_query(port: u16, server_ca: &Path, client: Option<(&Path, &Path)>) -> Option<String> {
    let mut a = args(&[
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        "+tls-hostname=dns.test",
        "+timeout=2",
        "+retry=0",
    ]);
    a.push(format!("+tls-ca={}", server_ca.display()));
    if let Some((cert, key)) = client {
        a.push(format!("+tls-certfile={}", cert.display()));
        a.push(format!("+tls-keyfile={}", key.display()));
    }
    a.extend(args(&["example.org", "A"]));
    kdig(&a)
}

/// Whether kdig's reply carries whoami's answer for `name`.
fn answered(out: &str) -> bool {
    out.contains("status: NOERROR") && out.contains("example.org.") && out.contains("IN\tA\t127.0.0.1")
}

#[test]
fn dot_and_doh_answer_through_the_same_chain() {
    let dir = TempDir::new("tls");
    let (cert, key) = self_signed_pem();
    let cert = dir.write("cert.pem", &cert);
    let key = dir.write("key.pem", &key);
    let (dot, doh, metrics) = (free_port(), free_port(), free_port());
    let corefile = format!(
        "tls://.:{dot} {{\n bind 127.0.0.1\n tls {c} {k}\n prometheus 127.0.0.1:{metrics}\n log\n whoami\n}}\n\
         https://.:{doh} {{\n bind 127.0.0.1\n tls {c} {k}\n prometheus 127.0.0.1:{metrics}\n whoami\n}}\n",
        c = cert.display(),
        k = key.display()
    );
    let server = Server::start(BIN, &corefile, dot);
    let ca = format!("+tls-ca={}", cert.display());
    let Some(out) = kdig(&args(&[
        "@127.0.0.1",
        "-p",
        &dot.to_string(),
        &ca,
        "+tls-hostname=dns.test",
        "example.org",
        "A",
    ])) else {
        return;
    };
    assert!(answered(&out), "{out}");
    assert!(out.contains("TLS session (TLS1.3)"), "{out}");
    assert!(
        server
            .wait_for_line("\"A IN example.org. tcp ", Duration::from_secs(5))
            .is_some(),
        "logged as CoreDNS logs DoT (proto tcp): {:?}",
        server.output()
    );

    let https = |extra: &str| {
        kdig(&args(&[
            "@127.0.0.1",
            "-p",
            &doh.to_string(),
            &ca,
            "+tls-hostname=dns.test",
            "+https",
            extra,
            "example.org",
            "A",
        ]))
        .unwrap_or_default()
    };
    let out = https("+nocrypto");
    assert!(answered(&out) && out.contains("HTTP/2-POST"), "{out}");
    let out = https("+https-get");
    assert!(answered(&out) && out.contains("HTTP/2-GET"), "{out}");

    // What plain HTTP clients get wrong, answered as Go's net/http answers it.
    let curl = |url: String| -> String {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(curl(format!("https://127.0.0.1:{doh}/other")), "404");
    assert_eq!(curl(format!("https://127.0.0.1:{doh}/dns-query?dns=!!")), "400");
    assert_eq!(curl(format!("https://127.0.0.1:{doh}/dns-query")), "400");
    // Cache-Control from the reply's smallest TTL (whoami's: 0).
    let headers = Command::new("curl")
        .args(["-sk", "-D", "-", "-o", "/dev/null"])
        .arg(format!(
            "https://127.0.0.1:{doh}/dns-query?dns=EjQBAAABAAAAAAAAA3d3dwdleGFtcGxlA29yZwAAAQAB"
        ))
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(
        headers.contains("content-type: application/dns-message"),
        "{headers}"
    );
    assert!(headers.contains("cache-control: max-age=0.000000"), "{headers}");

    let (_, scrape) = http_get(metrics, "/metrics").expect("metrics");
    for series in [
        format!("coredns_https_responses_total{{server=\"https://127.0.0.1:{doh}\",status=\"200\"}}"),
        format!("coredns_https_responses_total{{server=\"https://127.0.0.1:{doh}\",status=\"404\"}}"),
        format!(
            "coredns_dns_requests_total{{family=\"1\",proto=\"tcp\",server=\"tls://127.0.0.1:{dot}\",type=\"A\",view=\"\",zone=\".\"}}"
        ),
    ] {
        assert!(scrape.contains(&series), "{series} missing:\n{scrape}");
    }
}

#[test]
fn client_certificates_and_a_renewed_certificate() {
    let dir = TempDir::new("tls-auth");
    let (cert, key) = self_signed_pem();
    let (client_cert, client_key, client_ca) = client_cert_pem();
    let cert_path = dir.write("cert.pem", &cert);
    let key_path = dir.write("key.pem", &key);
    let ca = dir.write("ca.pem", &client_ca);
    let client_cert = dir.write("client.pem", &client_cert);
    let client_key = dir.write("client-key.pem", &client_key);
    let dot = free_port();
    let corefile = format!(
        "tls://.:{dot} {{\n bind 127.0.0.1\n tls {} {} {} {{\n  client_auth require_and_verify\n }}\n whoami\n}}\n",
        cert_path.display(),
        key_path.display(),
        ca.display()
    );
    let _server = Server::start(BIN, &corefile, dot);
    let client = (client_cert.as_path(), client_key.as_path());
    let ask = |server_ca: &Path, with_cert: bool| dot_query(dot, server_ca, with_cert.then_some(client));
    let Some(out) = ask(&cert_path, true) else {
        return;
    };
    assert!(answered(&out), "{out}");
    let out = ask(&cert_path, false).unwrap_or_default();
    assert!(!answered(&out), "no client certificate, no answer: {out}");

    // The certificate renewed on disk: new connections get it, no reload needed.
    let (new_cert, new_key) = self_signed_pem();
    let new_ca = dir.write("new-ca.pem", &new_cert);
    std::fs::write(&key_path, new_key).expect("key");
    std::fs::write(&cert_path, new_cert).expect("cert");
    wait_until("the renewed certificate served", Duration::from_secs(10), || {
        ask(&new_ca, true).is_some_and(|out| answered(&out))
    });
}

#[test]
fn client_auth_require_takes_any_certificate() {
    let dir = TempDir::new("tls-require");
    let (cert, key) = self_signed_pem();
    let cert = dir.write("cert.pem", &cert);
    let key = dir.write("key.pem", &key);
    // A client certificate no CA of the server's issued.
    let (client_cert, client_key, _) = client_cert_pem();
    let client_cert = dir.write("client.pem", &client_cert);
    let client_key = dir.write("client-key.pem", &client_key);
    let dot = free_port();
    let corefile = format!(
        "tls://.:{dot} {{\n bind 127.0.0.1\n tls {} {} {{\n  client_auth require\n }}\n whoami\n}}\n",
        cert.display(),
        key.display()
    );
    let _server = Server::start(BIN, &corefile, dot);
    let client = (client_cert.as_path(), client_key.as_path());
    let ask = |with_cert: bool| dot_query(dot, &cert, with_cert.then_some(client));
    let Some(out) = ask(true) else {
        return;
    };
    assert!(answered(&out), "{out}");
    assert!(
        !answered(&ask(false).unwrap_or_default()),
        "a certificate is required"
    );
}
