//! A resident's words on root's terminal. What a turn prints is the resident's, so hostile:
//! an escape sequence could retitle the terminal, move the cursor over what root read,
//! or, on some terminals, type into root's shell. Control characters (C0 but newline and
//! tab, DEL, C1) and the bidirectional overrides are shown as escapes, never sent.

use std::borrow::Cow;

fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal would act on written as `\u{…}`.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reach_the_terminal_only_as_text() {
        assert_eq!(shown("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(shown("\x1b]0;owned\x07"), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(shown("a\u{9b}31mb\u{202e}c"), "a\\u{9b}31mb\\u{202e}c");
        assert!(!shown("\x1b[2J\r").contains('\x1b'));
    }
}
