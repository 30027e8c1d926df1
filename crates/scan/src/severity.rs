//! Finding severities, as ECR names them.

use serde::{Deserialize, Serialize};

/// Ordered most severe first, so sorting findings ascending puts the
/// critical ones on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Undefined,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
        Severity::Undefined,
    ];

    /// ECR's spelling, as in `findingSeverityCounts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
            Severity::Undefined => "UNDEFINED",
        }
    }

    /// A vendor's word for a severity: GitHub's `MODERATE`, Debian's
    /// urgencies (`unimportant`), Ubuntu's priorities (`negligible`),
    /// Red Hat's `important`. Words that say nothing (`not yet assigned`,
    /// `untriaged`, `end-of-life`) give `None`.
    pub fn from_word(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" | "important" => Some(Severity::High),
            "medium" | "moderate" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "negligible" | "unimportant" | "informational" | "none" => {
                Some(Severity::Informational)
            }
            _ => None,
        }
    }

    /// CVSS v3's qualitative rating of a base score, with "None" (0.0)
    /// as ECR's informational.
    pub fn from_cvss_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score >= 0.1 {
            Severity::Low
        } else {
            Severity::Informational
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(Severity::from_word("MODERATE"), Some(Severity::Medium));
        assert_eq!(Severity::from_word(" Critical "), Some(Severity::Critical));
        assert_eq!(
            Severity::from_word("unimportant"),
            Some(Severity::Informational)
        );
        assert_eq!(
            Severity::from_word("negligible"),
            Some(Severity::Informational)
        );
        assert_eq!(Severity::from_word("not yet assigned"), None);
    }

    #[test]
    fn score_boundaries() {
        let table = [
            (10.0, Severity::Critical),
            (9.0, Severity::Critical),
            (8.9, Severity::High),
            (7.0, Severity::High),
            (6.9, Severity::Medium),
            (4.0, Severity::Medium),
            (3.9, Severity::Low),
            (0.1, Severity::Low),
            (0.0, Severity::Informational),
        ];
        for (score, severity) in table {
            assert_eq!(Severity::from_cvss_score(score), severity, "{score}");
        }
    }

    #[test]
    fn serde_and_order_match_ecr() {
        assert_eq!(
            serde_json::to_string(&Severity::Informational).expect("serializes"),
            "\"INFORMATIONAL\""
        );
        for s in Severity::ALL {
            assert_eq!(
                serde_json::to_string(&s).expect("serializes"),
                format!("\"{}\"", s.as_str())
            );
        }
        let mut sorted = Severity::ALL;
        sorted.reverse();
        sorted.sort();
        assert_eq!(sorted, Severity::ALL);
    }
}
