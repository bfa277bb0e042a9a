//! The recording fake of this seam (FakeSubvolumes), compiled for tests only.

use std::sync::Mutex;

use crate::os::Recorder;

use super::*;

/// Subvolumes in memory: a set of paths with a read-only flag; records every change.
/// `fail` names calls ("snapshot", "exchange", …) that return an error instead.
#[derive(Debug, Default)]
pub struct FakeSubvolumes {
    pub subvolumes: Mutex<Vec<(PathBuf, bool)>>,
    pub calls: Recorder,
    pub fail: Mutex<Vec<&'static str>>,
    /// Ids of the subvolumes made through the fake, which move with them; one pushed into
    /// `subvolumes` directly has an id made from its first path.
    ids: Mutex<Vec<(PathBuf, u64)>>,
}

impl FakeSubvolumes {
    fn find(&self, path: &Path) -> Option<bool> {
        self.subvolumes
            .lock()
            .expect("lock")
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, ro)| *ro)
    }

    fn act(&self, op: &'static str, call: String) -> Result<(), OsError> {
        self.calls.record(call.clone());
        if self.fail.lock().expect("lock").contains(&op) {
            return Err(OsError::new(call, "told to fail"));
        }
        Ok(())
    }

    fn made(&self, path: &Path) {
        let mut ids = self.ids.lock().expect("lock");
        let id = ids.iter().map(|(_, i)| *i).max().unwrap_or(255) + 1;
        ids.retain(|(p, _)| p != path);
        ids.push((path.to_owned(), id));
    }

    fn moved(&self, from: &Path, to: &Path) -> Vec<(PathBuf, bool)> {
        let mut ids = self.ids.lock().expect("lock");
        let (moving, stay): (Vec<_>, Vec<_>) =
            ids.drain(..).partition(|(p, _)| p.starts_with(from));
        *ids = stay;
        let moving: Vec<_> = moving
            .into_iter()
            .map(|(p, id)| (to.join(p.strip_prefix(from).expect("prefix")), id))
            .collect();
        ids.extend(moving);
        drop(ids);
        let mut s = self.subvolumes.lock().expect("lock");
        let (moving, stay): (Vec<_>, Vec<_>) = s.drain(..).partition(|(p, _)| p.starts_with(from));
        *s = stay;
        moving
            .into_iter()
            .map(|(p, ro)| (to.join(p.strip_prefix(from).expect("prefix")), ro))
            .collect()
    }
}

impl Subvolumes for FakeSubvolumes {
    fn is_subvolume(&self, path: &Path) -> Result<bool, OsError> {
        Ok(self.find(path).is_some())
    }

    fn is_readonly(&self, path: &Path) -> Result<bool, OsError> {
        self.find(path).ok_or_else(|| {
            OsError::new(
                format!("reading the flags of {}", path.display()),
                "not a subvolume",
            )
        })
    }

    fn create(&self, path: &Path) -> Result<(), OsError> {
        self.act("create", format!("create {}", path.display()))?;
        self.subvolumes
            .lock()
            .expect("lock")
            .push((path.to_owned(), false));
        self.made(path);
        Ok(())
    }

    fn snapshot(&self, source: &Path, dest: &Path, readonly: bool) -> Result<(), OsError> {
        self.act(
            "snapshot",
            format!(
                "snapshot {} {} ro={readonly}",
                source.display(),
                dest.display()
            ),
        )?;
        self.subvolumes
            .lock()
            .expect("lock")
            .push((dest.to_owned(), readonly));
        self.made(dest);
        Ok(())
    }

    fn seal(&self, path: &Path) -> Result<(), OsError> {
        self.act("seal", format!("seal {}", path.display()))
    }

    fn delete_recursive(&self, path: &Path) -> Result<(), OsError> {
        self.act("delete", format!("delete {}", path.display()))?;
        self.subvolumes
            .lock()
            .expect("lock")
            .retain(|(p, _)| !p.starts_with(path));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), OsError> {
        self.act(
            "rename",
            format!("rename {} {}", from.display(), to.display()),
        )?;
        let moved = self.moved(from, to);
        self.subvolumes.lock().expect("lock").extend(moved);
        Ok(())
    }

    fn exchange(&self, a: &Path, b: &Path) -> Result<(), OsError> {
        self.act(
            "exchange",
            format!("exchange {} {}", a.display(), b.display()),
        )?;
        let (to_b, to_a) = (self.moved(a, b), self.moved(b, a));
        self.subvolumes
            .lock()
            .expect("lock")
            .extend(to_b.into_iter().chain(to_a));
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, OsError> {
        let mut out: Vec<PathBuf> = self
            .subvolumes
            .lock()
            .expect("lock")
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| p.parent() == Some(dir))
            .collect();
        out.sort();
        Ok(out)
    }

    fn make_writable(&self, path: &Path) -> Result<(), OsError> {
        self.act("writable", format!("writable {}", path.display()))?;
        for (p, ro) in self.subvolumes.lock().expect("lock").iter_mut() {
            if p == path {
                *ro = false;
            }
        }
        Ok(())
    }

    fn id(&self, path: &Path) -> Result<u64, OsError> {
        if self.find(path).is_none() {
            return Err(OsError::new(
                format!("reading the subvolume id of {}", path.display()),
                "not a subvolume",
            ));
        }
        let ids = self.ids.lock().expect("lock");
        Ok(ids
            .iter()
            .find(|(p, _)| p == path)
            .map_or_else(|| path.as_os_str().len() as u64 * 1000, |(_, id)| *id))
    }
}
