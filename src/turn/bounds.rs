//! Bounds on what a turn's CLI can make the root daemon hold: lines, answers, session ids.
//! The CLI runs as the resident, so its output is hostile input.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// A line longer than this is cut here and the rest of it skipped.
pub const MAX_LINE: usize = 1 << 20;
/// An answer longer than this is cut with a notice (a 10 KiB Matrix message each: ~26).
pub const MAX_ANSWER: usize = 256 << 10;
/// stderr lines a turn may put in the supervisor's journal; the rest are counted.
pub const MAX_LOGGED_STDERR: usize = 50;
/// Characters of one stderr line kept for the journal and `!log`.
pub const MAX_STDERR_LINE: usize = 2000;

/// Lines of at most `max` bytes from `r`, whatever it sends: memory stays bounded.
pub struct BoundedLines<R> {
    r: R,
    max: usize,
    buf: Vec<u8>,
    skipping: bool,
}

/// One line, and whether it was cut at the bound.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub cut: bool,
}

impl<R: AsyncBufRead + Unpin> BoundedLines<R> {
    pub fn new(r: R, max: usize) -> Self {
        Self {
            r,
            max,
            buf: Vec::new(),
            skipping: false,
        }
    }

    fn take(&mut self, cut: bool) -> Line {
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        Line { text, cut }
    }

    /// The next line (without its newline); None at the end of the stream or on an error.
    pub async fn next_line(&mut self) -> Option<Line> {
        loop {
            let chunk = match self.r.fill_buf().await {
                Ok(c) => c,
                Err(_) => return None,
            };
            if chunk.is_empty() {
                let rest = !self.buf.is_empty();
                return rest.then(|| self.take(false));
            }
            let newline = chunk.iter().position(|b| *b == b'\n');
            let upto = newline.unwrap_or(chunk.len());
            let room = self.max - self.buf.len();
            let over = !self.skipping && upto > room;
            if !self.skipping {
                self.buf.extend_from_slice(&chunk[..upto.min(room)]);
            }
            self.r.consume(newline.map_or(upto, |i| i + 1));
            if newline.is_some() {
                // The end of a line already handed out cut: skip it, read the next.
                if !std::mem::replace(&mut self.skipping, false) {
                    return Some(self.take(over));
                }
            } else if over {
                self.skipping = true;
                return Some(self.take(true));
            }
        }
    }
}

/// A CLI session id townhall stores and passes back on the next command line.
pub fn session_id_ok(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut l = BoundedLines::new(tokio::io::BufReader::with_capacity(7, input), max);
        let mut out = Vec::new();
        while let Some(x) = l.next_line().await {
            out.push(x);
        }
        out
    }

    #[tokio::test]
    async fn a_long_line_is_cut_and_the_next_one_read_whole() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nshort\nlast");
        let got = lines(&input, 16).await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!((got[0].text.len(), got[0].cut), (16, true));
        assert_eq!(
            got[1],
            Line {
                text: "short".into(),
                cut: false
            }
        );
        assert_eq!(
            got[2],
            Line {
                text: "last".into(),
                cut: false
            }
        );
    }

    #[tokio::test]
    async fn a_line_as_long_as_the_bound_is_not_cut() {
        let got = lines(b"0123456789abcdef\nnext\n", 16).await;
        assert_eq!(
            got.iter()
                .map(|l| (l.text.as_str(), l.cut))
                .collect::<Vec<_>>(),
            [("0123456789abcdef", false), ("next", false)]
        );
    }

    #[test]
    fn session_ids_are_plain_and_short() {
        assert!(session_id_ok("3f2a-9c.b_x"));
        for bad in ["", "a b", "../x", "x;rm -rf", &"a".repeat(129), "ü"] {
            assert!(!session_id_ok(bad), "{bad:?}");
        }
        assert_eq!(clip("héllo", 2), "h");
    }
}
