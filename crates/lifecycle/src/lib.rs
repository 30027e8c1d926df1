//! Amazon ECR lifecycle policies as pure logic: [`LifecyclePolicy::parse`]
//! validates policy text the way `PutLifecyclePolicy` does, and
//! [`evaluate`] says which images a policy expires at a given instant. No
//! I/O and no clock: the caller passes the images and `now`, so the same
//! code serves `PutLifecyclePolicy` (validation), the lifecycle policy
//! preview (evaluation without deleting) and scheduled enforcement.
//!
//! # Evaluation rules
//!
//! Taken from the ECR User Guide ("Automate the cleanup of images by using
//! lifecycle policies", section "Lifecycle policy evaluation rules";
//! "Lifecycle policy properties"; "Examples of lifecycle policies"):
//!
//! - Rules are applied in `rulePriority` order, lowest number first.
//! - A rule *identifies* the images its selection's tagging requirements
//!   match (`tagStatus` plus `tagPrefixList`/`tagPatternList`), whatever
//!   earlier rules did with them: "rules can never mark images that are
//!   marked by higher priority rules, but can still identify them as if they
//!   haven't been expired". So an `imageCountMoreThan` rule counts images
//!   that a higher-priority rule expired or protects.
//! - `imageCountMoreThan N`: the identified images, youngest first by push
//!   time, beyond the first `N` are candidates. `sinceImagePushed N days`:
//!   identified images pushed more than `N` days (of 24 hours) before `now`
//!   are candidates.
//! - A candidate is expired unless a higher-priority rule identified it:
//!   "an image that matches the tagging requirements of a rule cannot be
//!   expired by a rule with a lower priority". Skipped candidates are not
//!   replaced by younger images. Hence every image is expired by exactly
//!   one rule or none, and, equivalently, an image can only be expired by
//!   the first rule whose tagging requirements it meets.
//! - `tagPrefixList`/`tagPatternList`: the image matches when *every*
//!   entry matches at least one of its tags; a prefix matches a tag that
//!   starts with it, a pattern matches a whole tag with `*` standing for any
//!   run of characters (at most four `*` per pattern). `untagged` matches
//!   images without tags, `any` matches every image.
//! - Push-time ties are broken by digest (the greater digest counts as the
//!   younger image) so that the outcome never depends on input order.

mod error;
mod evaluate;
mod parse;
mod policy;

pub use error::LifecycleError;
pub use evaluate::{Expiry, Image, evaluate};
pub use policy::{
    ActionType, CountType, LifecyclePolicy, MAX_WILDCARDS_PER_PATTERN, Rule, Selection, TagFilter,
    TagStatus,
};
