//! The recording fake of this seam (FakeGit), compiled for tests only.

use crate::os::Recorder;

use super::*;

#[derive(Debug, Default)]
pub struct FakeGit {
    pub calls: Recorder,
}

impl Git for FakeGit {
    fn identity(
        &self,
        name: &str,
        email: &str,
        signing_key: Option<&str>,
    ) -> Result<Vec<u8>, OsError> {
        self.calls.record(format!(
            "identity {name} <{email}>{}",
            if signing_key.is_some() { " signed" } else { "" }
        ));
        Ok(format!("[user]\n\tname = {name}\n\temail = {email}\n").into_bytes())
    }
}
