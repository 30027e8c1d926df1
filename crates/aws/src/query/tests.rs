#![allow(clippy::unwrap_used)]

use http::{HeaderMap, Method, Uri};

use super::*;

fn parse(uri: &str, content_type: Option<&str>, body: &str) -> QueryParams {
    let uri: Uri = uri.parse().unwrap();
    let mut headers = HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert("content-type", ct.parse().unwrap());
    }
    QueryParams::parse(
        &RequestView::new(&Method::POST, &uri, &headers),
        body.as_bytes(),
    )
}

#[test]
fn parses_form_bodies_and_query_strings() {
    let p = parse(
        "/?Version=2015-12-01&X=query",
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        "Action=DescribeLoadBalancers&Names.member.1=a%20b&Names.member.2=c+d&X=body&Empty=&Flag",
    );
    assert_eq!(p.action(), Some("DescribeLoadBalancers"));
    assert_eq!(p.version(), Some("2015-12-01"));
    assert_eq!(p.members("Names"), vec!["a b", "c d"]);
    assert_eq!(p.get("X"), Some("body"));
    assert_eq!(p.get("Empty"), Some(""));
    assert_eq!(p.get("Flag"), Some(""));
    assert_eq!(p.get("Missing"), None);

    // A body that is not form-encoded is not read.
    let p = parse("/?Action=A", Some("application/json"), "Action=B");
    assert_eq!(p.action(), Some("A"));
    let p = parse("/", None, "Action=B");
    assert!(p.is_empty());
}

#[test]
fn lists_are_ordered_numerically() {
    let p = QueryParams::from_pairs([
        ("Names.member.10", "ten"),
        ("Names.member.2", "two"),
        ("Names.member.1", "one"),
        ("Names.member.x", "ignored"),
        ("Names.memberX.3", "ignored"),
        ("Other.member.1", "other"),
    ]);
    assert_eq!(p.members("Names"), vec!["one", "two", "ten"]);
    assert!(p.members("None").is_empty());
    assert_eq!(p.list("Other.member"), vec!["other"]);
}

#[test]
fn structures_and_maps() {
    let p = QueryParams::from_pairs([
        ("Tags.member.2.Key", "b"),
        ("Tags.member.1.Key", "a"),
        ("Tags.member.1.Value", "1"),
        ("Tags.member.2.Value", "2"),
        ("Tags.member.10.Key", "j"),
        ("Actions.member.1.Type", "forward"),
        (
            "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
            "arn1",
        ),
        (
            "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
            "5",
        ),
        ("HealthCheck.Matcher.HttpCode", "200-299"),
        ("HealthCheck.Path", "/health"),
        ("Attributes.entry.2.key", "k2"),
        ("Attributes.entry.2.value", "v2"),
        ("Attributes.entry.1.key", "k1"),
        ("Attributes.entry.1.value", "v1"),
        ("Attributes.entry.3.key", "no-value"),
    ]);
    let tags = p.member_structs("Tags");
    assert_eq!(tags.len(), 3);
    assert_eq!(
        (tags[0].get("Key"), tags[0].get("Value")),
        (Some("a"), Some("1"))
    );
    assert_eq!(
        (tags[1].get("Key"), tags[1].get("Value")),
        (Some("b"), Some("2"))
    );
    assert_eq!(
        (tags[2].get("Key"), tags[2].get("Value")),
        (Some("j"), None)
    );

    let actions = p.member_structs("Actions");
    assert_eq!(actions.len(), 1);
    let groups = actions[0]
        .nested("ForwardConfig")
        .member_structs("TargetGroups");
    assert_eq!(groups[0].get("TargetGroupArn"), Some("arn1"));
    assert_eq!(groups[0].get_i64("Weight").unwrap(), Some(5));

    let hc = p.nested("HealthCheck");
    assert_eq!(hc.get("Path"), Some("/health"));
    assert_eq!(hc.nested("Matcher").get("HttpCode"), Some("200-299"));
    assert!(p.nested("Absent").is_empty());

    assert_eq!(
        p.map_entries("Attributes"),
        vec![
            ("k1".to_string(), "v1".to_string()),
            ("k2".to_string(), "v2".to_string())
        ]
    );
}

#[test]
fn typed_and_required_values() {
    let p = QueryParams::from_pairs([("N", "12"), ("B", "True"), ("Bad", "x")]);
    assert_eq!(p.get_i64("N").unwrap(), Some(12));
    assert_eq!(p.get_i64("Absent").unwrap(), None);
    assert_eq!(p.get_bool("B").unwrap(), Some(true));
    assert_eq!(p.get_i64("Bad").unwrap_err().code, "ValidationError");
    assert_eq!(p.get_bool("Bad").unwrap_err().code, "ValidationError");
    assert_eq!(p.require("N").unwrap(), "12");
    let e = p.require("Names").unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("ValidationError", 400));
    assert!(e.message.contains("'Names'"));
}

#[test]
fn success_document() {
    let mut w = XmlWriter::new();
    w.members("LoadBalancers", ["a&b"], |w, n| {
        w.element("LoadBalancerName", n);
    });
    let r = success(
        "DescribeLoadBalancers",
        "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
        "rid-1",
        &w.finish(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), Some("text/xml"));
    assert_eq!(r.request_id(), Some("rid-1"));
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        "<DescribeLoadBalancersResponse \
         xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <DescribeLoadBalancersResult><LoadBalancers><member>\
         <LoadBalancerName>a&amp;b</LoadBalancerName></member></LoadBalancers>\
         </DescribeLoadBalancersResult><ResponseMetadata><RequestId>rid-1</RequestId>\
         </ResponseMetadata></DescribeLoadBalancersResponse>"
    );
    let empty = success("DeleteLoadBalancer", "ns", "r", "");
    assert!(
        std::str::from_utf8(&empty.body)
            .unwrap()
            .contains("<DeleteLoadBalancerResult></DeleteLoadBalancerResult>")
    );
}

#[test]
fn error_documents() {
    let r = error(
        Some("https://iam.amazonaws.com/doc/2010-05-08/"),
        "rid-2",
        &ApiError::new(
            "NoSuchEntity",
            "The user with name <x> cannot be found.",
            404,
        ),
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
         <Type>Sender</Type><Code>NoSuchEntity</Code>\
         <Message>The user with name &lt;x&gt; cannot be found.</Message></Error>\
         <RequestId>rid-2</RequestId></ErrorResponse>"
    );
    let r = error(None, "rid-3", &ApiError::server("InternalFailure", "boom"));
    assert_eq!(r.status, 500);
    let body = std::str::from_utf8(&r.body).unwrap();
    assert!(
        body.starts_with("<ErrorResponse><Error><Type>Receiver</Type>"),
        "{body}"
    );
}
