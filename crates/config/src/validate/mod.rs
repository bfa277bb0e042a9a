//! From what was written to what townhall runs: every value checked, defaults filled in,
//! and the checks that need more than one value (uniqueness, paths that must not nest).
//! Every check reports through the Checker here; the town's file is checked in town.rs,
//! the residents' in residents.rs (what is unique across them), resident.rs (each one's
//! values) and device.rs (its device rules).

mod device;
mod resident;
mod residents;
mod town;

use std::path::Path;

use toml::Spanned;

use super::diagnostic::{Report, Source};

pub use residents::residents;
pub use town::town;

/// Reports problems with one file's values.
pub(super) struct Checker<'a> {
    pub(super) src: &'a Source,
    pub(super) report: &'a mut Report,
}

impl Checker<'_> {
    pub(super) fn err<T>(
        &mut self,
        at: &Spanned<T>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.report.push(self.src.diag(at.span(), message, help));
    }

    /// Keep the value when `check` accepts it; otherwise report and return None.
    pub(super) fn ok<T, U>(
        &mut self,
        at: &Spanned<T>,
        check: Result<U, impl std::fmt::Display>,
        help: &str,
    ) -> Option<U> {
        check.map_err(|m| self.err(at, m.to_string(), help)).ok()
    }

    pub(super) fn location<T>(&self, at: &Spanned<T>) -> String {
        let (line, col) = self.src.position(at.span().start);
        format!("{}:{line}:{col}", self.src.file.display())
    }
}

/// An empty `dir` is a value that already failed its own check: no second error about it.
pub(super) fn inside(path: &Path, dir: &Path) -> bool {
    !dir.as_os_str().is_empty() && !path.as_os_str().is_empty() && path.starts_with(dir)
}
