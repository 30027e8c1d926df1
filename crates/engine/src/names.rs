//! Random container names in Docker's `adjective_name` style.

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid",
    "modest", "nifty", "quirky", "serene", "sharp", "stoic", "tender", "upbeat", "vivid",
    "zealous",
];

const NAMES: &[&str] = &[
    "hopper", "lovelace", "turing", "ritchie", "thompson", "torvalds", "knuth", "liskov",
    "hamilton", "dijkstra", "lamport", "shannon", "noether", "curie", "babbage", "kay", "pike",
    "wirth", "backus", "allen",
];

fn pick(list: &[&'static str]) -> &'static str {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("the kernel's random source is always readable");
    list[u16::from_le_bytes(b) as usize % list.len()]
}

/// A name not yet taken; adds a number when the plain ones run out.
pub fn generate(taken: &dyn Fn(&str) -> bool) -> String {
    for _ in 0..50 {
        let n = format!("{}_{}", pick(ADJECTIVES), pick(NAMES));
        if !taken(&n) {
            return n;
        }
    }
    let mut i = 1u64;
    loop {
        let n = format!("{}_{}{i}", pick(ADJECTIVES), pick(NAMES));
        if !taken(&n) {
            return n;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn avoids_taken_names() {
        let n = super::generate(&|n: &str| !n.chars().any(|c| c.is_ascii_digit()));
        assert!(n.chars().any(|c| c.is_ascii_digit()), "{n}");
    }
}
