//! Listeners, and the ports they bind.

use super::{ACCOUNT, Fx};

#[test]
fn create_and_describe() {
    let fx = Fx::new();
    let (lb, tg, arn) = fx.web("web", "80");
    assert!(arn.contains(":listener/app/web/0000000000000001/"), "{arn}");
    let r = fx.ok("DescribeListeners", &[("LoadBalancerArn", &lb)]);
    let l = r.get("Listeners/member");
    assert_eq!(l.text("ListenerArn"), arn);
    assert_eq!(l.text("LoadBalancerArn"), lb);
    assert_eq!(l.text("Port"), "80");
    assert_eq!(l.text("Protocol"), "HTTP");
    let action = l.get("DefaultActions/member");
    assert_eq!(action.text("Type"), "forward");
    assert_eq!(action.text("TargetGroupArn"), tg);
    assert!(!action.has("Order"));
    let tuple = action.get("ForwardConfig/TargetGroups/member");
    assert_eq!(
        (tuple.text("TargetGroupArn"), tuple.text("Weight")),
        (tg.clone(), "1".into())
    );
    assert_eq!(
        action.text("ForwardConfig/TargetGroupStickinessConfig/Enabled"),
        "false"
    );
    // The group now serves the load balancer.
    let g = fx.ok("DescribeTargetGroups", &[("TargetGroupArns.member.1", &tg)]);
    assert_eq!(
        g.strings("TargetGroups/member/LoadBalancerArns"),
        std::slice::from_ref(&lb)
    );
    // The same request again answers the same listener.
    let rev = fx.revision();
    assert_eq!(fx.listener(&lb, "HTTP", "80", &tg), arn);
    assert_eq!(fx.revision(), rev);
    let by_arn = fx.ok("DescribeListeners", &[("ListenerArns.member.1", &arn)]);
    assert_eq!(by_arn.text("Listeners/member/Port"), "80");
}

#[test]
fn one_listener_per_port_on_this_host() {
    let fx = Fx::new();
    let (lb, tg, _) = fx.web("web", "80");
    // The same load balancer, different settings.
    let other_tg = fx.tg("other-tg", "HTTP", "80", "ip");
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &other_tg),
        ],
    );
    assert_eq!(e.code, "DuplicateListener");
    // Another load balancer: the port is bound on this host already.
    let second = fx.alb("second");
    let second_tg = fx.tg("second-tg", "HTTP", "80", "ip");
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &second),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &second_tg),
        ],
    );
    assert_eq!(e.code, "DuplicateListener");
    assert!(e.message.contains(&lb), "{}", e.message);
    // Something else on the host holds 8443.
    fx.ports.0.lock().unwrap().push(8443);
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &second),
            ("Protocol", "HTTP"),
            ("Port", "8443"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &second_tg),
        ],
    );
    assert_eq!(e.code, "InvalidConfigurationRequest");
    assert!(e.message.contains("8443"));
    fx.listener(&second, "HTTP", "81", &second_tg);
    // An NLB too shares the host's ports.
    let nlb = fx.nlb("tcp");
    let tcp_tg = fx.tg("tcp-tg", "TCP", "80", "ip");
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &nlb),
            ("Protocol", "TCP"),
            ("Port", "81"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tcp_tg),
        ],
    );
    assert_eq!(e.code, "DuplicateListener");
    fx.listener(&nlb, "TCP", "5432", &tcp_tg);
    let _ = tg;
}

#[test]
fn protocols_and_certificates() {
    let fx = Fx::new();
    let alb = fx.alb("web");
    let nlb = fx.nlb("tcp");
    let http_tg = fx.tg("http", "HTTP", "80", "ip");
    let tcp_tg = fx.tg("tcp", "TCP", "80", "ip");
    let mk = |lb: &str, protocol: &str, tg: &str| -> Vec<(String, String)> {
        vec![
            ("LoadBalancerArn".into(), lb.into()),
            ("Protocol".into(), protocol.into()),
            ("Port".into(), "90".into()),
            ("DefaultActions.member.1.Type".into(), "forward".into()),
            ("DefaultActions.member.1.TargetGroupArn".into(), tg.into()),
        ]
    };
    let try_create = |pairs: Vec<(String, String)>| {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fx.err("CreateListener", &pairs)
    };
    let e = try_create(mk(&alb, "TCP", &tcp_tg));
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "ValidationError",
            "Listener protocol 'TCP' must be one of 'HTTPS, HTTP'"
        )
    );
    let e = try_create(mk(&nlb, "HTTP", &http_tg));
    assert_eq!(
        e.message,
        "Listener protocol 'HTTP' must be one of 'TLS, TCP, TCP_UDP, UDP'"
    );
    assert_eq!(
        try_create(mk(&alb, "HTTP", &tcp_tg)).code,
        "IncompatibleProtocols"
    );
    assert_eq!(
        try_create(mk(&nlb, "UDP", &tcp_tg)).code,
        "UnsupportedProtocol"
    );
    let mut tls = mk(&nlb, "TLS", &tcp_tg);
    tls.push((
        "Certificates.member.1.CertificateArn".into(),
        "arn:aws:acm:us-east-1:000000000000:certificate/x".into(),
    ));
    // TLS listeners are not served (terminate TLS on an ALB instead).
    assert_eq!(try_create(tls).code, "UnsupportedProtocol");
    assert_eq!(
        try_create(mk(&alb, "HTTPS", &http_tg)).code,
        "ValidationError"
    );
    let mut with_cert = mk(&alb, "HTTPS", &http_tg);
    with_cert.push((
        "Certificates.member.1.CertificateArn".into(),
        "arn:aws:acm:us-east-1:000000000000:certificate/x".into(),
    ));
    assert_eq!(try_create(with_cert).code, "CertificateNotFound");
    let mut cert_on_http = mk(&alb, "HTTP", &http_tg);
    cert_on_http.push(("SslPolicy".into(), "ELBSecurityPolicy-2016-08".into()));
    assert_eq!(try_create(cert_on_http).code, "ValidationError");
    let mut no_port = mk(&alb, "HTTP", &http_tg);
    no_port.retain(|(k, _)| k != "Port");
    assert_eq!(try_create(no_port).code, "ValidationError");
    let mut no_actions = mk(&alb, "HTTP", &http_tg);
    no_actions.truncate(3);
    assert_eq!(try_create(no_actions).code, "ValidationError");
    let gone = alb.replace("0000000000000001", "00000000000000ee");
    assert_eq!(
        try_create(mk(&gone, "HTTP", &http_tg)).code,
        "LoadBalancerNotFound"
    );
    let missing_tg = http_tg.replace("0000000000000003", "00000000000000ee");
    assert_eq!(
        try_create(mk(&alb, "HTTP", &missing_tg)).code,
        "TargetGroupNotFound"
    );
    assert!(fx.dump().keys().all(|k| !k.starts_with("elbv2/listeners/")));
}

#[test]
fn a_group_serves_one_load_balancer() {
    let fx = Fx::new();
    let (_, tg, _) = fx.web("web", "80");
    let other = fx.alb("other");
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &other),
            ("Protocol", "HTTP"),
            ("Port", "81"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(e.code, "TargetGroupAssociationLimit");
}

#[test]
fn modify_port_protocol_and_actions() {
    let fx = Fx::new();
    let (lb, _, arn) = fx.web("web", "80");
    let (_, _, taken) = fx.web("other", "81");
    let _ = taken;
    assert_eq!(
        fx.code("ModifyListener", &[("ListenerArn", &arn), ("Port", "81")]),
        "DuplicateListener"
    );
    let r = fx.ok(
        "ModifyListener",
        &[
            ("ListenerArn", &arn),
            ("Port", "8080"),
            ("DefaultActions.member.1.Type", "fixed-response"),
            (
                "DefaultActions.member.1.FixedResponseConfig.StatusCode",
                "503",
            ),
            (
                "DefaultActions.member.1.FixedResponseConfig.ContentType",
                "text/plain",
            ),
            (
                "DefaultActions.member.1.FixedResponseConfig.MessageBody",
                "down for maintenance",
            ),
        ],
    );
    let l = r.get("Listeners/member");
    assert_eq!(l.text("Port"), "8080");
    let a = l.get("DefaultActions/member");
    assert_eq!(a.text("Type"), "fixed-response");
    assert_eq!(a.text("FixedResponseConfig/StatusCode"), "503");
    assert_eq!(
        a.text("FixedResponseConfig/MessageBody"),
        "down for maintenance"
    );
    assert!(!a.has("ForwardConfig"));
    // Port 80 is free again, for any load balancer.
    let third = fx.alb("third");
    let tg = fx.tg("third-tg", "HTTP", "80", "ip");
    fx.listener(&third, "HTTP", "80", &tg);
    // A redirect, with AWS's defaults filled in.
    let r = fx.ok(
        "ModifyListener",
        &[
            ("ListenerArn", &arn),
            ("DefaultActions.member.1.Type", "redirect"),
            ("DefaultActions.member.1.RedirectConfig.Port", "8081"),
            (
                "DefaultActions.member.1.RedirectConfig.StatusCode",
                "HTTP_301",
            ),
        ],
    );
    let rc = r.get("Listeners/member/DefaultActions/member/RedirectConfig");
    assert_eq!(
        [
            rc.text("Protocol"),
            rc.text("Port"),
            rc.text("Host"),
            rc.text("Path"),
            rc.text("Query"),
            rc.text("StatusCode")
        ],
        [
            "#{protocol}",
            "8081",
            "#{host}",
            "/#{path}",
            "#{query}",
            "HTTP_301"
        ]
    );
    assert_eq!(
        fx.code(
            "ModifyListener",
            &[("ListenerArn", &arn), ("Protocol", "TCP")]
        ),
        "ValidationError"
    );
    let gone = arn.replace(
        ":listener/app/web/0000000000000001/",
        ":listener/app/web/0000000000000001/f",
    );
    assert_eq!(
        fx.code("ModifyListener", &[("ListenerArn", &gone)]),
        "ListenerNotFound"
    );
    let _ = lb;
}

#[test]
fn describe_and_delete() {
    let fx = Fx::new();
    let lb = fx.alb("web");
    let tg = fx.tg("tg", "HTTP", "80", "ip");
    let arns: Vec<String> = ["82", "80", "81"]
        .iter()
        .map(|p| fx.listener(&lb, "HTTP", p, &tg))
        .collect();
    let ports = |r: &super::Node| -> Vec<String> {
        r.members("Listeners")
            .iter()
            .map(|l| l.text("Port"))
            .collect()
    };
    assert_eq!(
        ports(&fx.ok("DescribeListeners", &[("LoadBalancerArn", &lb)])),
        ["80", "81", "82"]
    );
    let p1 = fx.ok(
        "DescribeListeners",
        &[("LoadBalancerArn", &lb), ("PageSize", "2")],
    );
    assert_eq!(ports(&p1), ["80", "81"]);
    let p2 = fx.ok(
        "DescribeListeners",
        &[
            ("LoadBalancerArn", &lb),
            ("PageSize", "2"),
            ("Marker", &p1.text("NextMarker")),
        ],
    );
    assert_eq!(ports(&p2), ["82"]);
    assert_eq!(fx.code("DescribeListeners", &[]), "ValidationError");
    assert_eq!(
        fx.code(
            "DescribeListeners",
            &[
                ("LoadBalancerArn", &lb),
                ("ListenerArns.member.1", &arns[0])
            ]
        ),
        "ValidationError"
    );
    let rule = fx.rule(&arns[0], "1", "/a", &tg);
    fx.ok("DeleteListener", &[("ListenerArn", &arns[0])]);
    assert_eq!(
        fx.code("DescribeListeners", &[("ListenerArns.member.1", &arns[0])]),
        "ListenerNotFound"
    );
    assert_eq!(
        fx.code("DescribeRules", &[("RuleArns.member.1", &rule)]),
        "RuleNotFound"
    );
    assert_eq!(
        fx.code("DeleteListener", &[("ListenerArn", &arns[0])]),
        "ListenerNotFound"
    );
    assert_eq!(
        ports(&fx.ok("DescribeListeners", &[("LoadBalancerArn", &lb)])),
        ["80", "81"]
    );
}

#[test]
fn listener_quota() {
    let fx = Fx::new();
    let lb = fx.alb("web");
    let tg = fx.tg("tg", "HTTP", "80", "ip");
    for port in 1000..1050 {
        fx.listener(&lb, "HTTP", &port.to_string(), &tg);
    }
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "2000"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(e.code, "TooManyListeners");
}

#[test]
fn racing_listeners_cannot_share_a_port() {
    // Eight load balancers ask for port 80 at once: the generation check
    // makes exactly one win, the others see its listener when they retry.
    let fx = std::sync::Arc::new(Fx::new());
    let pairs: Vec<(String, String)> = (0..8)
        .map(|i| {
            let lb = fx.alb(&format!("lb{i}"));
            let tg = fx.tg(&format!("tg{i}"), "HTTP", "80", "ip");
            (lb, tg)
        })
        .collect();
    let handles: Vec<_> = pairs
        .into_iter()
        .map(|(lb, tg)| {
            let fx = fx.clone();
            std::thread::spawn(move || {
                fx.call(
                    "CreateListener",
                    &[
                        ("LoadBalancerArn", &lb),
                        ("Protocol", "HTTP"),
                        ("Port", "80"),
                        ("DefaultActions.member.1.Type", "forward"),
                        ("DefaultActions.member.1.TargetGroupArn", &tg),
                    ],
                )
                .map_err(|e| e.code)
                .map(|_| ())
            })
        })
        .collect();
    let results: Vec<Result<(), String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|c| c == "DuplicateListener"),
        "{results:?}"
    );
    let listeners = fx
        .dump()
        .into_keys()
        .filter(|k| k.starts_with("elbv2/listeners/"))
        .count();
    assert_eq!(listeners, 1);
}

#[test]
fn ports_are_shared_across_accounts() {
    let fx = Fx::new();
    let (lb, _, _) = fx.web("web", "80");
    fx.as_account("111111111111");
    let theirs = fx.alb("theirs");
    let tg = fx.tg("theirs-tg", "HTTP", "80", "ip");
    let e = fx.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &theirs),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(e.code, "DuplicateListener");
    assert!(!e.message.contains(&lb), "{}", e.message);
    assert!(e.message.contains("another load balancer"), "{}", e.message);
}

#[test]
fn https_listeners_take_acm_certificates() {
    let fx = Fx::new();
    let alb = fx.alb("web");
    let tg = fx.tg("http", "HTTP", "80", "ip");
    let cert = |n: u8| {
        format!(
            "arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0000000{n}-aaaa-bbbb-cccc-dddddddddddd"
        )
    };
    for n in 1..=3 {
        fx.certs.0.lock().unwrap().push((ACCOUNT.into(), cert(n)));
    }
    let (c1, c2, c3) = (cert(1), cert(2), cert(3));
    let create = |policy: Option<&str>, c: &str| {
        let mut pairs = vec![
            ("LoadBalancerArn", alb.as_str()),
            ("Protocol", "HTTPS"),
            ("Port", "443"),
            ("Certificates.member.1.CertificateArn", c),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", tg.as_str()),
        ];
        if let Some(p) = policy {
            pairs.push(("SslPolicy", p));
        }
        fx.call("CreateListener", &pairs)
    };
    let e = create(Some("ELBSecurityPolicy-Nope"), &c1).unwrap_err();
    assert_eq!(e.code, "SSLPolicyNotFound");
    let unknown = c1.replace("00000001", "00000009");
    assert_eq!(
        create(None, &unknown).unwrap_err().code,
        "CertificateNotFound"
    );
    // Another account's certificate is not found either.
    fx.certs
        .0
        .lock()
        .unwrap()
        .push(("111111111111".into(), unknown.clone()));
    assert_eq!(
        create(None, &unknown).unwrap_err().code,
        "CertificateNotFound"
    );
    assert!(fx.dump().keys().all(|k| !k.starts_with("elbv2/listeners/")));

    let l = create(None, &c1).unwrap();
    let arn = l.text("Listeners/member/ListenerArn");
    assert_eq!(l.text("Listeners/member/Protocol"), "HTTPS");
    assert_eq!(
        l.text("Listeners/member/Certificates/member/CertificateArn"),
        c1
    );
    assert_eq!(
        l.text("Listeners/member/SslPolicy"),
        "ELBSecurityPolicy-2016-08"
    );

    // SNI certificates: added, listed with the default, the default kept.
    let added = fx.ok(
        "AddListenerCertificates",
        &[
            ("ListenerArn", &arn),
            ("Certificates.member.1.CertificateArn", &c2),
            ("Certificates.member.2.CertificateArn", &c3),
        ],
    );
    assert_eq!(added.text("Certificates/member/CertificateArn"), c2);
    let listed = fx.ok("DescribeListenerCertificates", &[("ListenerArn", &arn)]);
    let certs: Vec<(String, String)> = listed
        .get("Certificates")
        .children
        .iter()
        .map(|m| (m.text("CertificateArn"), m.text("IsDefault")))
        .collect();
    assert_eq!(
        certs,
        [
            (c1.clone(), "true".into()),
            (c2.clone(), "false".into()),
            (c3.clone(), "false".into())
        ]
    );
    let snap = crate::snapshot(fx.store.as_ref()).unwrap();
    assert_eq!(
        snap.load_balancers[0].listeners[0].certificates,
        [c1.clone(), c2.clone(), c3.clone()]
    );
    assert_eq!(
        crate::listeners_using_certificate(fx.store.as_ref(), &c3).unwrap(),
        vec![arn.clone()]
    );
    let e = fx.err(
        "RemoveListenerCertificates",
        &[
            ("ListenerArn", &arn),
            ("Certificates.member.1.CertificateArn", &c1),
        ],
    );
    assert_eq!(e.code, "OperationNotPermitted");
    fx.ok(
        "RemoveListenerCertificates",
        &[
            ("ListenerArn", &arn),
            ("Certificates.member.1.CertificateArn", &c3),
        ],
    );

    // A new default replaces the old one (c2 was an SNI certificate, and
    // is listed once); the policy changes with it.
    let m = fx.ok(
        "ModifyListener",
        &[
            ("ListenerArn", &arn),
            ("Certificates.member.1.CertificateArn", &c2),
            ("SslPolicy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ],
    );
    assert_eq!(
        m.text("Listeners/member/Certificates/member/CertificateArn"),
        c2
    );
    assert_eq!(
        m.text("Listeners/member/SslPolicy"),
        "ELBSecurityPolicy-TLS13-1-2-2021-06"
    );
    let snap = crate::snapshot(fx.store.as_ref()).unwrap();
    assert_eq!(
        snap.load_balancers[0].listeners[0].certificates,
        vec![c2.clone()]
    );

    // Back to HTTP: no certificates, no policy.
    let m = fx.ok(
        "ModifyListener",
        &[
            ("ListenerArn", &arn),
            ("Protocol", "HTTP"),
            ("Port", "8443"),
        ],
    );
    assert!(m.opt("Listeners/member/Certificates").is_none());
    assert!(m.opt("Listeners/member/SslPolicy").is_none());
    let e = fx.err(
        "AddListenerCertificates",
        &[
            ("ListenerArn", &arn),
            ("Certificates.member.1.CertificateArn", &c3),
        ],
    );
    assert_eq!(e.code, "ValidationError");
    // HTTPS again needs a certificate.
    let e = fx.err(
        "ModifyListener",
        &[("ListenerArn", &arn), ("Protocol", "HTTPS")],
    );
    assert_eq!(e.code, "ValidationError");
}
