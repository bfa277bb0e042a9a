//! A recording counter for tests, which can be told to refuse.

use std::sync::Mutex;

use super::{Admission, Count, Pending};
use crate::usage::Usage;

#[derive(Debug, Default)]
pub struct FakeCount {
    pub refuse: Option<String>,
    pub used: Mutex<Vec<(u32, Usage)>>,
}

impl Count for FakeCount {
    fn admit(&self, _uid: u32) -> Pending<'_, Admission> {
        let a = match &self.refuse {
            Some(why) => Admission::Refused(why.clone()),
            None => Admission::Admitted,
        };
        Box::pin(async move { a })
    }

    fn reach(&self, _uid: u32, host: String, port: u16) -> Pending<'_, Admission> {
        let a = match &self.refuse {
            Some(why) => Admission::Refused(format!("{host}:{port}: {why}")),
            None => Admission::Admitted,
        };
        Box::pin(async move { a })
    }

    fn used(&self, uid: u32, usage: Usage) {
        self.used.lock().expect("lock").push((uid, usage));
    }
}
