//! End-to-end: an operator's certificate (made with `openssl`) imported
//! with `aws acm import-certificate`, served by an HTTPS listener made with
//! `aws elbv2`, and `curl` through it over HTTP/1.1 and HTTP/2; the
//! certificate in use says so and cannot be deleted; bad input gets ELB's
//! and ACM's errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, aws_json as aws, create_load_balancer};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and a certificate for `www.example.test` it signed, as PEM files
/// in `dir`: ca.pem, site.pem, site.key.
fn certificates(dir: &Path) {
    let f = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:www.example.test\n").unwrap();
    for key in ["ca.key", "site.key"] {
        run(Command::new("openssl").args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            &f(key),
        ]));
    }
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-new",
        "-key",
        &f("ca.key"),
        "-subj",
        "/CN=Dockyard test CA",
        "-days",
        "2",
        "-out",
        &f("ca.pem"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-new",
        "-key",
        &f("site.key"),
        "-subj",
        "/CN=www.example.test",
        "-out",
        &f("site.csr"),
    ]));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &f("site.csr"),
        "-CA",
        &f("ca.pem"),
        "-CAkey",
        &f("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &f("san.ext"),
        "-out",
        &f("site.pem"),
    ]));
}

/// An HTTP/1.1 backend on 127.0.0.1 answering every request with the
/// `X-Forwarded-Proto` it was sent.
fn backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut proto = String::from("none");
                    let mut line = String::new();
                    // Request line and headers, up to the blank line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) =
                            line.to_ascii_lowercase().strip_prefix("x-forwarded-proto:")
                        {
                            proto = v.trim().to_string();
                        }
                    }
                    let body = format!("hello over {proto}");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_imported_certificate_serves_an_https_listener() {
    let s = Server::start();
    let dir = s.data.parent().unwrap().to_path_buf();
    certificates(&dir);
    let file = |name: &str| format!("fileb://{}", dir.join(name).display());

    let imported = aws(
        &s,
        &[
            "acm",
            "import-certificate",
            "--certificate",
            &file("site.pem"),
            "--private-key",
            &file("site.key"),
            "--certificate-chain",
            &file("ca.pem"),
        ],
    );
    let cert = imported["CertificateArn"].as_str().unwrap().to_string();
    let d = aws(
        &s,
        &["acm", "describe-certificate", "--certificate-arn", &cert],
    );
    assert_eq!(d["Certificate"]["DomainName"], "www.example.test");
    assert_eq!(d["Certificate"]["Type"], "IMPORTED");
    assert_eq!(d["Certificate"]["Status"], "ISSUED");
    // A key that is not the certificate's is refused.
    let (ok, out) = s.aws(
        &s.credentials(),
        &[
            "acm",
            "import-certificate",
            "--certificate",
            &file("site.pem"),
            "--private-key",
            &file("ca.key"),
        ],
    );
    assert!(!ok && out.contains("ValidationException"), "{out}");

    let lb_arn = create_load_balancer(&s, "web", "application");
    let tg = aws(
        &s,
        &[
            "elbv2",
            "create-target-group",
            "--name",
            "web",
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            "vpc-dockyard",
            "--target-type",
            "ip",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ],
    );
    let tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    let backend = backend();
    aws(
        &s,
        &[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &tg_arn,
            "--targets",
            &format!("Id=127.0.0.1,Port={backend}"),
        ],
    );
    let port = free_port().to_string();
    let forward = format!("Type=forward,TargetGroupArn={tg_arn}");
    let unknown = cert.replace(&cert[cert.len() - 4..], "ffff");
    let create_listener = |certificate: &str| {
        s.aws(
            &s.credentials(),
            &[
                "elbv2",
                "create-listener",
                "--load-balancer-arn",
                &lb_arn,
                "--protocol",
                "HTTPS",
                "--port",
                &port,
                "--certificates",
                &format!("CertificateArn={certificate}"),
                "--default-actions",
                &forward,
            ],
        )
    };
    let (ok, out) = create_listener(&unknown);
    assert!(!ok && out.contains("CertificateNotFound"), "{out}");
    let (ok, out) = create_listener(&cert);
    assert!(ok, "{out}");
    let listener: serde_json::Value = serde_json::from_str(&out).unwrap();
    let l = &listener["Listeners"][0];
    assert_eq!(l["Certificates"][0]["CertificateArn"], cert.as_str());
    assert_eq!(l["SslPolicy"], "ELBSecurityPolicy-2016-08");
    let listener_arn = l["ListenerArn"].as_str().unwrap().to_string();

    // curl, trusting only the test CA, by name.
    let curl = |extra: &[&str]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "5", "--cacert"])
            .arg(dir.join("ca.pem"))
            .args(["--resolve", &format!("www.example.test:{port}:127.0.0.1")])
            .args(["-w", " HTTP/%{http_version}"])
            .args(extra)
            .arg(format!("https://www.example.test:{port}/"));
        cmd.output().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = curl(&["--http1.1"]);
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && body.starts_with("hello") {
            assert_eq!(body, "hello over https HTTP/1.1");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "HTTPS never served: {body} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = curl(&["--http2"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over https HTTP/2"
    );

    // In use: ACM says by whom and keeps it.
    let d = aws(
        &s,
        &["acm", "describe-certificate", "--certificate-arn", &cert],
    );
    assert_eq!(d["Certificate"]["InUseBy"][0], listener_arn.as_str());
    let (ok, out) = s.aws(
        &s.credentials(),
        &["acm", "delete-certificate", "--certificate-arn", &cert],
    );
    assert!(!ok && out.contains("ResourceInUseException"), "{out}");
    aws(
        &s,
        &["elbv2", "delete-listener", "--listener-arn", &listener_arn],
    );
    aws(
        &s,
        &["acm", "delete-certificate", "--certificate-arn", &cert],
    );
    let listed = aws(&s, &["acm", "list-certificates"]);
    assert_eq!(listed["CertificateSummaryList"], serde_json::json!([]));
}
