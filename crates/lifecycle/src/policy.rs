//! The validated form of a lifecycle policy, and how a rule's tagging
//! requirements match an image's tags.

/// ECR's limit on `*` in one `tagPatternList` entry.
pub const MAX_WILDCARDS_PER_PATTERN: usize = 4;

/// A lifecycle policy that passed every check `PutLifecyclePolicy` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// Sorted by `priority`, the rule applied first (lowest number) first.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `rulePriority`: unique within the policy, at least 1.
    pub priority: u32,
    pub description: Option<String>,
    pub selection: Selection,
    pub action: ActionType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The rule's tagging requirements.
    pub tag_status: TagStatus,
    /// Which of the images meeting the tagging requirements are candidates.
    pub count: CountType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagStatus {
    /// Images with at least one tag that satisfy the filter.
    Tagged(TagFilter),
    /// Images without tags.
    Untagged,
    /// Every image; such a rule is always the last one applied.
    Any,
}

/// `tagPrefixList` or `tagPatternList`: every entry must match at least one
/// tag of the image (entries are ANDed, tags are ORed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// A tag matches a prefix when it starts with it.
    Prefixes(Vec<String>),
    /// A tag matches a pattern when the whole tag matches it, `*` standing
    /// for any run of characters, the empty one included.
    Patterns(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountType {
    /// `imageCountMoreThan`: keep this many of the most recently pushed
    /// matching images; the older ones are candidates.
    ImageCountMoreThan(u32),
    /// `sinceImagePushed` with `countUnit` `days`: images pushed more than
    /// this many days before the evaluation time are candidates.
    SinceImagePushedDays(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    /// `expire`: the image is deleted.
    Expire,
}

impl LifecyclePolicy {
    /// Parses and validates `text` as `PutLifecyclePolicy` would; see
    /// [`LifecycleError`](crate::LifecycleError) for the wording of refusals.
    pub fn parse(text: &str) -> Result<Self, crate::LifecycleError> {
        crate::parse::parse(text)
    }
}

impl Selection {
    /// Whether an image with these tags meets the rule's tagging
    /// requirements (what the ECR docs call the rule identifying it).
    pub fn matches(&self, tags: &[String]) -> bool {
        self.tag_status.matches(tags)
    }
}

impl TagStatus {
    pub fn matches(&self, tags: &[String]) -> bool {
        match self {
            TagStatus::Any => true,
            TagStatus::Untagged => tags.is_empty(),
            TagStatus::Tagged(filter) => !tags.is_empty() && filter.matches(tags),
        }
    }
}

impl TagFilter {
    pub fn matches(&self, tags: &[String]) -> bool {
        match self {
            TagFilter::Prefixes(prefixes) => prefixes
                .iter()
                .all(|p| tags.iter().any(|t| t.starts_with(p.as_str()))),
            TagFilter::Patterns(patterns) => patterns
                .iter()
                .all(|p| tags.iter().any(|t| wildcard_match(p, t))),
        }
    }

    pub(crate) fn entries(&self) -> &[String] {
        match self {
            TagFilter::Prefixes(v) | TagFilter::Patterns(v) => v,
        }
    }
}

/// Whole-string match where `*` matches any run of bytes. Comparing bytes
/// is safe for UTF-8: a literal run in the pattern starts with a lead byte,
/// which can never equal a continuation byte, so matches stay aligned.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was seen and how much text it has swallowed; on a
    // mismatch it swallows one more byte. Only the last star needs
    // backtracking, which keeps this linear in practice.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_match_whole_tags() {
        let cases = [
            ("prod*", "prod", true),
            ("prod*", "prod1", true),
            ("prod*", "preprod", false),
            ("*prod", "preprod", true),
            ("*prod", "prod-1", false),
            ("latest", "latest", true),
            ("latest", "latest2", false),
            ("*", "", true),
            ("*", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*test*1*2*3", "my-test-1-2-3", true),
            ("*test*1*2*3", "my-test-1-3-2", false),
            ("v*.*.*", "v1.22.3", true),
            ("v*.*.*", "v1.22", false),
            ("a**b", "ab", true),
            ("é*", "été", true),
            ("*é", "ét", false),
            ("*t*", "été", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(wildcard_match(pattern, text), want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn every_entry_must_match_some_tag() {
        let prefixes = TagFilter::Prefixes(tags(&["alpha", "beta"]));
        assert!(prefixes.matches(&tags(&["alpha-2", "beta-2"])));
        assert!(prefixes.matches(&tags(&["beta-2", "gamma", "alpha-2"])));
        assert!(!prefixes.matches(&tags(&["alpha-1"])));
        // One tag cannot stand in for two different entries unless it
        // matches both.
        assert!(!prefixes.matches(&tags(&["alphabeta"])));
        let same = TagFilter::Prefixes(tags(&["al", "alpha"]));
        assert!(same.matches(&tags(&["alpha"])));

        let patterns = TagFilter::Patterns(tags(&["alpha*", "*-4"]));
        assert!(patterns.matches(&tags(&["alpha-4"])));
        assert!(patterns.matches(&tags(&["alpha-1", "beta-4"])));
        assert!(!patterns.matches(&tags(&["alpha-1", "beta-3"])));
    }

    #[test]
    fn tag_status_decides_tagged_untagged_and_any() {
        let tagged = TagStatus::Tagged(TagFilter::Patterns(tags(&["*"])));
        assert!(tagged.matches(&tags(&["x"])));
        assert!(!tagged.matches(&[]));
        assert!(TagStatus::Untagged.matches(&[]));
        assert!(!TagStatus::Untagged.matches(&tags(&["x"])));
        assert!(TagStatus::Any.matches(&[]));
        assert!(TagStatus::Any.matches(&tags(&["x"])));
        // An empty prefix list could only come from hand-built values; it
        // must still not select untagged images.
        let empty = TagStatus::Tagged(TagFilter::Prefixes(vec![]));
        assert!(!empty.matches(&[]));
    }
}
