//! A turn's token: 128 random bits root makes when the turn starts and forgets when it
//! ends, so a call names one running turn and a stale or guessed one names none.

/// A new token, as hex.
pub fn new() -> String {
    let mut bytes = [0u8; 16];
    // The kernel's random source does not fail once the system has booted.
    getrandom::fill(&mut bytes).expect("the kernel's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
pub fn same(token: &str, given: &str) -> bool {
    let (a, b) = (token.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ_and_match_only_themselves() {
        let (a, b) = (super::new(), super::new());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(super::same(&a, &a.clone()));
        assert!(!super::same(&a, &b));
        assert!(!super::same(&a, &a[..31]));
        assert!(!super::same(&a, ""));
    }
}
