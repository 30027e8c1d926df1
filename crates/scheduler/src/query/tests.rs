#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::BTreeMap;

use super::*;
use crate::model::PlacedTask;

fn instance(id: &str, attrs: &[(&str, Option<&str>)]) -> InstanceState {
    InstanceState {
        arn: format!("arn:aws:ecs:us-east-1:000000000000:container-instance/c/{id}"),
        id: id.to_string(),
        ec2_instance_id: format!("i-{id}"),
        agent_connected: true,
        agent_version: "1.14.5".to_string(),
        // 2018-06-18T22:28:28Z
        registered_at: 1_529_360_908,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect::<BTreeMap<_, _>>(),
        ..InstanceState::default()
    }
}

fn task(group: &str) -> PlacedTask {
    PlacedTask {
        group: group.to_string(),
        ..PlacedTask::default()
    }
}

fn t2_small_1a() -> InstanceState {
    instance(
        "a",
        &[
            ("ecs.instance-type", Some("t2.small")),
            ("ecs.availability-zone", Some("us-east-1a")),
            ("stack", Some("prod")),
            ("ecs.capability.task-eni", None),
        ],
    )
}

fn g2_1d() -> InstanceState {
    instance(
        "d",
        &[
            ("ecs.instance-type", Some("g2.2xlarge")),
            ("ecs.availability-zone", Some("us-east-1d")),
        ],
    )
}

fn eval(expr: &str, instance: &InstanceState) -> bool {
    Expression::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .matches(instance)
}

fn error(expr: &str) -> QueryError {
    match Expression::parse(expr) {
        Ok(e) => panic!("{expr} parsed as {:?}", e.root()),
        Err(e) => e,
    }
}

fn cmp(subject: Subject, operator: Operator, argument: Argument) -> Node {
    Node::Compare(Comparison {
        subject,
        operator,
        argument,
    })
}

fn attr(name: &str) -> Subject {
    Subject::Attribute(name.to_string())
}

fn text(s: &str) -> Argument {
    Argument::Text(s.to_string())
}

#[test]
fn parses_the_guide_examples() {
    let examples = [
        "attribute:ecs.instance-type == t2.small",
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        "task:group == service:production",
        "not(task:group == database)",
        "runningTasksCount == 1",
        "agentVersion < 1.14.5",
        "registeredAt < 2018-02-13",
        "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
        "attribute:stack == prod",
        "attribute:stack != prod",
        "attribute:ecs.instance-type in [t2.small, t2.medium]",
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
        "(attribute:a == 1 or attribute:b == 2) and attribute:c == 3",
    ];
    for e in examples {
        let parsed = Expression::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert_eq!(parsed.source(), e);
    }
}

#[test]
fn builds_the_tree_the_text_says() {
    let e = Expression::parse(
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
    )
    .unwrap();
    assert_eq!(
        *e.root(),
        Node::And(
            Box::new(cmp(
                attr("ecs.instance-type"),
                Operator::Matches,
                Argument::Pattern(Pattern::new("g2.*").unwrap()),
            )),
            Box::new(cmp(
                attr("ecs.availability-zone"),
                Operator::NotEquals,
                text("us-east-1d"),
            )),
        )
    );
    let e = Expression::parse("ec2InstanceId in ['i-abcd1234', \"i-wxyx7890\"]").unwrap();
    assert_eq!(
        *e.root(),
        cmp(
            Subject::Ec2InstanceId,
            Operator::In,
            Argument::List(vec!["i-abcd1234".into(), "i-wxyx7890".into()]),
        )
    );
    let e = Expression::parse("not(task:group == database)").unwrap();
    assert_eq!(
        *e.root(),
        Node::Not(Box::new(cmp(
            Subject::TaskGroup,
            Operator::Equals,
            text("database")
        )))
    );
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    let a = || Box::new(cmp(attr("a"), Operator::Exists, Argument::None));
    let b = || Box::new(cmp(attr("b"), Operator::Exists, Argument::None));
    let c = || Box::new(cmp(attr("c"), Operator::Exists, Argument::None));
    let e = Expression::parse("attribute:a exists || attribute:b exists && !attribute:c exists")
        .unwrap();
    assert_eq!(
        *e.root(),
        Node::Or(a(), Box::new(Node::And(b(), Box::new(Node::Not(c())))))
    );
    let e = Expression::parse("(attribute:a exists or attribute:b exists) and attribute:c exists")
        .unwrap();
    assert_eq!(*e.root(), Node::And(Box::new(Node::Or(a(), b())), c()));
    // `and` chains to the left.
    let e = Expression::parse("attribute:a exists and attribute:b exists and attribute:c exists")
        .unwrap();
    assert_eq!(*e.root(), Node::And(Box::new(Node::And(a(), b())), c()));
}

#[test]
fn word_and_symbol_operators_are_the_same() {
    let pairs = [
        ("attribute:stack == prod", "attribute:stack equals prod"),
        ("attribute:stack != prod", "attribute:stack not_equals prod"),
        ("attribute:n > 1", "attribute:n greater_than 1"),
        ("attribute:n >= 1", "attribute:n greater_than_equal 1"),
        ("attribute:n < 1", "attribute:n less_than 1"),
        ("attribute:n <= 1", "attribute:n less_than_equal 1"),
        ("attribute:stack !exists", "attribute:stack not_exists"),
        ("attribute:stack !in [a]", "attribute:stack not_in [a]"),
        ("attribute:stack =~ p.*", "attribute:stack matches p.*"),
        ("attribute:stack !~ p.*", "attribute:stack not_matches p.*"),
        (
            "attribute:a exists && attribute:b exists",
            "attribute:a exists and attribute:b exists",
        ),
        (
            "attribute:a exists || attribute:b exists",
            "attribute:a exists OR attribute:b exists",
        ),
        ("!attribute:a exists", "NOT attribute:a exists"),
    ];
    for (symbol, word) in pairs {
        assert_eq!(
            Expression::parse(symbol).unwrap(),
            Expression::parse(word).unwrap(),
            "{symbol} vs {word}"
        );
    }
}

#[test]
fn tolerates_missing_and_extra_space() {
    let tight = Expression::parse("attribute:stack==prod&&runningTasksCount<3").unwrap();
    let loose =
        Expression::parse("  attribute:stack  ==  prod   &&  runningTasksCount < 3 ").unwrap();
    assert_eq!(tight, loose);
    let e = Expression::parse("ec2InstanceId in[ i-1 ,i-2 ]").unwrap();
    assert_eq!(
        *e.root(),
        cmp(
            Subject::Ec2InstanceId,
            Operator::In,
            Argument::List(vec!["i-1".into(), "i-2".into()])
        )
    );
}

#[test]
fn evaluates_the_guide_examples() {
    let a = t2_small_1a();
    let d = g2_1d();
    assert!(eval("attribute:ecs.instance-type == t2.small", &a));
    assert!(!eval("attribute:ecs.instance-type == t2.small", &d));
    assert!(eval(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        &a
    ));
    assert!(!eval(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
        &d
    ));
    let g2_not_1d =
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d";
    assert!(!eval(g2_not_1d, &a));
    assert!(!eval(g2_not_1d, &d));
    let mut g2_1b = g2_1d();
    g2_1b
        .attributes
        .insert("ecs.availability-zone".into(), Some("us-east-1b".into()));
    assert!(eval(g2_not_1d, &g2_1b));
    assert!(eval("attribute:ecs.instance-type =~ t2.*", &a));
    assert!(eval("ec2InstanceId in ['i-a', 'i-wxyx7890']", &a));
    assert!(!eval("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", &a));
    assert!(eval("agentVersion < 1.14.6", &a));
    assert!(!eval("agentVersion < 1.14.5", &a));
    assert!(eval("agentVersion == 1.14.5.0", &a));
    assert!(eval("agentVersion > 1.9", &a));
    assert!(eval("registeredAt < 2018-06-19", &a));
    assert!(eval("registeredAt > 2018-06-18", &a));
    assert!(eval("registeredAt == 2018-06-18T22:28:28Z", &a));
    assert!(eval("registeredAt == '2018-06-19T00:28:28+02:00'", &a));
    assert!(eval("registeredAt >= 2018-06-18T22:28:28", &a));
    assert!(!eval("registeredAt > 2018-06-18T22:28:28", &a));
    assert!(eval("agentConnected == true", &a));
    assert!(eval("agentConnected != FALSE", &a));
    assert!(eval("agentConnected in [false, true]", &a));
}

#[test]
fn task_group_and_running_tasks_count_see_live_tasks_only() {
    let mut i = t2_small_1a();
    assert!(eval("runningTasksCount == 0", &i));
    assert!(!eval("task:group == service:production", &i));
    // No tasks: negated comparisons need the subject to exist.
    assert!(!eval("task:group != database", &i));
    assert!(eval("not(task:group == database)", &i));

    i.tasks.push(task("service:production"));
    i.tasks.push(PlacedTask {
        desired_stopped: true,
        ..task("database")
    });
    assert!(eval("runningTasksCount == 1", &i));
    assert!(eval("runningTasksCount >= 1 and runningTasksCount < 2", &i));
    assert!(eval("task:group == service:production", &i));
    assert!(eval("task:group =~ service:.*", &i));
    assert!(eval("not(task:group == database)", &i));
    assert!(eval("task:group != database", &i));
    assert!(!eval("task:group != service:production", &i));
    assert!(eval("task:group in [database, service:production]", &i));

    i.tasks.push(task("database"));
    assert!(!eval("not(task:group == database)", &i));
    assert!(eval("runningTasksCount == 2", &i));
    assert!(eval("runningTasksCount != 3", &i));
}

#[test]
fn attributes_exist_even_without_a_value() {
    let a = t2_small_1a();
    assert!(eval("attribute:ecs.capability.task-eni exists", &a));
    assert!(!eval("attribute:ecs.capability.task-eni !exists", &a));
    assert!(!eval("attribute:ecs.capability.task-eni == ''", &a));
    assert!(eval("attribute:ecs.capability.task-eni != x", &a));
    assert!(!eval("attribute:missing exists", &a));
    assert!(eval("attribute:missing not_exists", &a));
}

#[test]
fn negated_comparisons_need_the_attribute() {
    let a = t2_small_1a();
    let d = g2_1d();
    // "lists the instances with the custom attribute stack unless the
    // attribute value is prod"
    assert!(!eval("attribute:stack != prod", &a));
    assert!(!eval("attribute:stack != prod", &d));
    assert!(eval("attribute:stack != dev", &a));
    assert!(!eval("attribute:stack not_in [dev]", &d));
    assert!(!eval("attribute:stack !~ d.*", &d));
    assert!(eval("attribute:stack !~ d.*", &a));
    assert!(eval("!(attribute:stack == prod)", &d));
}

#[test]
fn patterns_match_whole_values() {
    let a = t2_small_1a();
    assert!(eval("attribute:ecs.instance-type =~ t2.*", &a));
    assert!(!eval("attribute:ecs.instance-type =~ t2", &a));
    assert!(!eval("attribute:ecs.instance-type =~ small", &a));
    assert!(eval("attribute:ecs.instance-type =~ .*small", &a));
    // Alternation inside balanced parentheses needs no quotes.
    assert!(eval("attribute:ecs.instance-type =~ t2.(micro|small)", &a));
    assert!(eval(
        "(attribute:ecs.instance-type =~ t2.(micro|small))",
        &a
    ));
    assert!(eval(
        "attribute:ecs.instance-type =~ 't2\\.(micro|small)'",
        &a
    ));
    assert!(eval(
        "attribute:ecs.instance-type matches \"T2.*|t2.*\"",
        &a
    ));
}

#[test]
fn numeric_attribute_comparisons() {
    let i = instance("n", &[("slots", Some("8")), ("name", Some("eight"))]);
    assert!(eval("attribute:slots > 4", &i));
    assert!(eval("attribute:slots <= 8.0", &i));
    assert!(!eval("attribute:slots < 8", &i));
    // A value that is no number compares as neither side.
    assert!(!eval("attribute:name > 1", &i));
    assert!(!eval("attribute:name <= 1", &i));
    assert!(!eval("attribute:missing > 1", &i));
}

#[test]
fn unknown_agent_version_is_only_unequal() {
    let mut i = t2_small_1a();
    i.agent_version = String::new();
    assert!(!eval("agentVersion < 9.0.0", &i));
    assert!(!eval("agentVersion >= 0", &i));
    assert!(eval("agentVersion != 1.0.0", &i));
    i.agent_version = "v1.70.2-beta".to_string();
    assert!(eval("agentVersion == 1.70.2", &i));
}

#[test]
fn quoted_values_keep_spaces_and_escapes() {
    let i = instance("q", &[("note", Some("a b")), ("quote", Some("it's"))]);
    assert!(eval("attribute:note == 'a b'", &i));
    assert!(eval("attribute:note in [\"a b\", c]", &i));
    assert!(eval("attribute:quote == 'it\\'s'", &i));
    assert!(eval("attribute:quote == \"it's\"", &i));
}

#[test]
fn reports_where_and_why() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "the expression is empty"),
        ("   ", 3, "the expression is empty"),
        ("attribute:x ==", 14, "expected a value"),
        ("attribute:x", 11, "expected an operator"),
        ("attribute:x ?? y", 12, "expected an operator"),
        ("attribute: == y", 0, "invalid attribute name"),
        ("attribute:a$b == y", 0, "invalid attribute name"),
        ("instanceType == t2", 0, "unknown subject 'instanceType'"),
        (
            "runningTasksCount exists",
            18,
            "the operator exists is not valid for runningTasksCount",
        ),
        (
            "ec2InstanceId > i-1",
            14,
            "the operator greater_than is not valid for ec2InstanceId",
        ),
        (
            "agentConnected =~ x and agentVersion exists",
            37,
            "not valid for agentVersion",
        ),
        ("runningTasksCount == one", 21, "expected a whole number"),
        ("runningTasksCount == -1", 21, "expected a whole number"),
        ("registeredAt < 2018-13-01", 15, "expected a date"),
        ("agentVersion < latest", 15, "expected a version"),
        ("agentConnected == yes", 18, "expected true or false"),
        (
            "agentConnected in [true, maybe]",
            25,
            "expected true or false",
        ),
        ("attribute:n > big", 14, "expected a number"),
        (
            "attribute:x =~ 't2.(micro'",
            15,
            "invalid pattern 't2.(micro'",
        ),
        ("attribute:x in a, b", 15, "expected '['"),
        ("attribute:x in [a b]", 18, "expected ',' or ']', found 'b'"),
        ("attribute:x in [a,", 18, "expected a value, found the end"),
        (
            "attribute:x in [a",
            17,
            "expected ',' or ']', found the end",
        ),
        ("attribute:x == [a]", 15, "only valid after in or not_in"),
        ("attribute:x == 'open", 15, "unterminated quoted value"),
        (
            "(attribute:x exists",
            19,
            "expected ')' to close the '(' at position 0",
        ),
        ("attribute:x exists)", 18, "unbalanced ')'"),
        ("attribute:x == a b", 17, "expected 'and', 'or' or the end"),
        (
            "attribute:x == a and",
            20,
            "expected a subject, found the end",
        ),
        (
            "attribute:x == a and )",
            21,
            "expected a subject, found ')'",
        ),
        ("not", 3, "expected a subject"),
    ];
    for (expr, position, message) in cases {
        let e = error(expr);
        assert_eq!(e.position, *position, "{expr}: {e}");
        assert!(e.message.contains(message), "{expr}: {e}");
    }
}

#[test]
fn refuses_runaway_nesting_and_length() {
    let deep = format!("{}attribute:x exists{}", "(".repeat(65), ")".repeat(65));
    assert!(error(&deep).message.contains("nested more than 64"));
    let fine = format!("{}attribute:x exists{}", "(".repeat(64), ")".repeat(64));
    assert!(Expression::parse(&fine).is_ok());
    let nots = format!("{}attribute:x exists", "!".repeat(100));
    assert!(error(&nots).message.contains("nested"));
    let long = format!("attribute:x == {}", "v".repeat(MAX_EXPRESSION_LEN));
    assert!(error(&long).message.contains("longer than 2000"));
}

#[test]
fn query_errors_become_invalid_parameter_messages() {
    let e: Invalid = error("attribute:x ==").into();
    assert_eq!(
        e.0,
        "Invalid cluster query expression at position 14: expected a value, found the end of the \
         expression."
    );
}

#[test]
fn filter_instances_keeps_order_and_refuses_bad_filters() {
    let mut busy = g2_1d();
    busy.tasks.push(task("database"));
    busy.agent_connected = false;
    let all = vec![t2_small_1a(), busy, instance("z", &[])];
    let ids = |v: Vec<&InstanceState>| v.into_iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(filter_instances("attribute:ecs.instance-type exists", &all).unwrap()),
        ["a", "d"]
    );
    assert_eq!(
        ids(filter_instances("agentConnected == false", &all).unwrap()),
        ["d"]
    );
    assert_eq!(
        ids(filter_instances("not(task:group == database)", &all).unwrap()),
        ["a", "z"]
    );
    assert_eq!(
        ids(filter_instances("ec2InstanceId =~ i-[az]", &all).unwrap()),
        ["a", "z"]
    );
    let e = filter_instances("attribute:x == a b", &all).unwrap_err();
    assert!(e.0.starts_with("Invalid cluster query expression"), "{e}");
}
