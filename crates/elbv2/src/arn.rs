//! Ids and ARNs, as AWS writes them:
//! `arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`
//! (`net/` for Network Load Balancers), `targetgroup/NAME/ID`,
//! `listener/app/NAME/LBID/ID`, `listener-rule/app/NAME/LBID/LISTENERID/ID`.

use crate::error::ElbError;
use crate::model::LoadBalancerType;

/// Where new resource ids come from (16 lower-case hex digits, as AWS's).
/// Injected so tests get predictable ARNs.
pub trait IdSource: Send + Sync {
    fn next_id(&self) -> String;
}

/// Ids from the kernel's random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&self) -> String {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the kernel's random source is always readable");
        hex::encode(b)
    }
}

/// Ids `0000000000000001`, `0000000000000002`... for tests and simulations.
#[derive(Debug, Default)]
pub struct SequentialIds(std::sync::atomic::AtomicU64);

impl IdSource for SequentialIds {
    fn next_id(&self) -> String {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        format!("{n:016x}")
    }
}

const PREFIX: &str = "arn:aws:elasticloadbalancing:";

fn arn(region: &str, account: &str, resource: &str) -> String {
    format!("{PREFIX}{region}:{account}:{resource}")
}

pub(crate) fn load_balancer(
    region: &str,
    account: &str,
    kind: LoadBalancerType,
    name: &str,
    id: &str,
) -> String {
    arn(
        region,
        account,
        &format!("loadbalancer/{}/{name}/{id}", kind.arn_segment()),
    )
}

pub(crate) fn target_group(region: &str, account: &str, name: &str, id: &str) -> String {
    arn(region, account, &format!("targetgroup/{name}/{id}"))
}

pub(crate) fn listener(lb_arn: &str, id: &str) -> String {
    format!(
        "{}/{id}",
        lb_arn.replacen(":loadbalancer/", ":listener/", 1)
    )
}

/// What an ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    LoadBalancer,
    TargetGroup,
    Listener,
    Rule,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::LoadBalancer => "load balancer",
            Self::TargetGroup => "target group",
            Self::Listener => "listener",
            Self::Rule => "listener rule",
        }
    }
}

/// The kind and id (the ARN's last part) of one of our ARNs, or `None`
/// when it is not shaped like one.
pub(crate) fn parse(arn: &str) -> Option<(Kind, &str)> {
    let rest = arn.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, ':');
    let (_region, _account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let segs: Vec<&str> = resource.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let typed = |n: usize| segs.len() == n && matches!(segs[1], "app" | "net");
    let kind = match segs[0] {
        "loadbalancer" if typed(4) => Kind::LoadBalancer,
        "targetgroup" if segs.len() == 3 => Kind::TargetGroup,
        "listener" if typed(5) => Kind::Listener,
        "listener-rule" if typed(6) => Kind::Rule,
        _ => return None,
    };
    Some((kind, segs[segs.len() - 1]))
}

/// The id in an ARN that must name a `kind`; AWS's `ValidationError`
/// otherwise.
pub(crate) fn id_of(arn: &str, kind: Kind) -> Result<&str, ElbError> {
    match parse(arn) {
        Some((k, id)) if k == kind => Ok(id),
        _ => Err(ElbError::Validation(format!(
            "'{arn}' is not a valid {} ARN",
            kind.noun()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse() {
        let lb = load_balancer(
            "us-east-1",
            "000000000000",
            LoadBalancerType::Application,
            "web",
            "50dc6c495c0c9188",
        );
        assert_eq!(
            lb,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/50dc6c495c0c9188"
        );
        let l = listener(&lb, "f2f7dc8efc522ab2");
        assert_eq!(
            l,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
        );
        let r = crate::model::rule_arn_of(&l, "9683b2d02a6cabee");
        assert!(
            r.contains(":listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee")
        );
        let tg = target_group("us-east-1", "000000000000", "tg", "73e2d6bc24d8a067");
        assert_eq!(parse(&lb), Some((Kind::LoadBalancer, "50dc6c495c0c9188")));
        assert_eq!(parse(&l), Some((Kind::Listener, "f2f7dc8efc522ab2")));
        assert_eq!(parse(&r), Some((Kind::Rule, "9683b2d02a6cabee")));
        assert_eq!(parse(&tg), Some((Kind::TargetGroup, "73e2d6bc24d8a067")));
        assert_eq!(parse("arn:aws:ecs:us-east-1:0:cluster/x"), None);
        assert_eq!(
            parse("arn:aws:elasticloadbalancing:us-east-1:0:loadbalancer/gwy/x/1"),
            None
        );
        assert_eq!(
            parse("arn:aws:elasticloadbalancing:r:a:targetgroup//1"),
            None
        );
        assert!(id_of(&tg, Kind::LoadBalancer).is_err());
        assert_eq!(id_of(&tg, Kind::TargetGroup).ok(), Some("73e2d6bc24d8a067"));
        let e = id_of("nope", Kind::Listener).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("'nope' is not a valid listener ARN"));
    }

    #[test]
    fn ids() {
        let s = SequentialIds::default();
        assert_eq!(s.next_id(), "0000000000000001");
        assert_eq!(s.next_id(), "0000000000000002");
        let r = RandomIds.next_id();
        assert_eq!(r.len(), 16);
        assert!(r.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
