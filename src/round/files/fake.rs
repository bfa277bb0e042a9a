//! The recording fake of this seam (FakeFiles): an in-memory tree of nodes for the tests of
//! rounds, with a path under which creating anything fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::os::{OsError, Recorder};

use super::{Files, Kind, Node, Owner, flat_name};

/// One fake node: its kind, owner (once set) and contents or link target.
pub type FakeNode = (Kind, Option<Owner>, Vec<u8>);

/// An in-memory tree: path → node. Creating anything under `fail_under` is an error.
#[derive(Debug, Default)]
pub struct FakeFiles {
    pub nodes: Mutex<BTreeMap<PathBuf, FakeNode>>,
    pub calls: Recorder,
    pub fail_under: Mutex<Option<PathBuf>>,
}

impl FakeFiles {
    pub fn add(&self, path: &str, kind: Kind, contents: &[u8]) {
        self.nodes
            .lock()
            .expect("lock")
            .insert(PathBuf::from(path), (kind, None, contents.to_vec()));
    }

    fn refuse(&self, p: &Path) -> Result<(), OsError> {
        match &*self.fail_under.lock().expect("lock") {
            Some(f) if p.starts_with(f) => Err(OsError::new(
                format!("creating {}", p.display()),
                "told to fail",
            )),
            _ => Ok(()),
        }
    }

    pub fn add_owned(&self, path: &str, kind: Kind, uid: u32) {
        let owner = Owner {
            uid,
            gid: uid,
            mode: 0o700,
        };
        self.nodes
            .lock()
            .expect("lock")
            .insert(PathBuf::from(path), (kind, Some(owner), vec![]));
    }
}

impl Files for FakeFiles {
    fn inspect(&self, path: &Path) -> Result<Option<Node>, OsError> {
        let nodes = self.nodes.lock().expect("lock");
        Ok(nodes.get(path).map(|(kind, owner, data)| {
            let canonical = match kind {
                Kind::Symlink => PathBuf::from(String::from_utf8_lossy(data).into_owned()),
                _ => path.to_owned(),
            };
            Node {
                kind: *kind,
                canonical,
                dev: 1,
                ino: path.as_os_str().len() as u64,
                uid: owner.map_or(0, |o| o.uid),
            }
        }))
    }

    fn make_dir(&self, base: &Path, rel: &Path, owner: Owner) -> Result<bool, OsError> {
        let p = base.join(rel);
        self.refuse(&p)?;
        let mut nodes = self.nodes.lock().expect("lock");
        if nodes.contains_key(&p) {
            return Ok(false);
        }
        self.calls.record(format!(
            "mkdir {} {}:{} {:o}",
            p.display(),
            owner.uid,
            owner.gid,
            owner.mode
        ));
        nodes.insert(p, (Kind::Dir, Some(owner), vec![]));
        Ok(true)
    }

    fn make_file(
        &self,
        base: &Path,
        rel: &Path,
        contents: &[u8],
        owner: Owner,
    ) -> Result<bool, OsError> {
        let p = base.join(rel);
        self.refuse(&p)?;
        let mut nodes = self.nodes.lock().expect("lock");
        if nodes.contains_key(&p) {
            return Ok(false);
        }
        self.calls.record(format!(
            "file {} {}:{} {:o}",
            p.display(),
            owner.uid,
            owner.gid,
            owner.mode
        ));
        nodes.insert(p, (Kind::File, Some(owner), contents.to_vec()));
        Ok(true)
    }

    fn symlink(&self, base: &Path, rel: &Path, target: &Path, owner: Owner) -> Result<(), OsError> {
        let p = base.join(rel);
        self.calls
            .record(format!("link {} -> {}", p.display(), target.display()));
        let data = target.as_os_str().as_encoded_bytes().to_vec();
        self.nodes
            .lock()
            .expect("lock")
            .insert(p, (Kind::Symlink, Some(owner), data));
        Ok(())
    }

    fn set_owner(&self, base: &Path, rel: &Path, owner: Owner) -> Result<(), OsError> {
        let p = base.join(rel);
        self.calls.record(format!(
            "own {} {}:{} {:o}",
            p.display(),
            owner.uid,
            owner.gid,
            owner.mode
        ));
        if let Some(n) = self.nodes.lock().expect("lock").get_mut(&p) {
            n.1 = Some(owner);
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, OsError> {
        let nodes = self.nodes.lock().expect("lock");
        nodes.get(path).map(|n| n.2.clone()).ok_or_else(|| {
            OsError::new(
                format!("reading {}", path.display()),
                "No such file or directory",
            )
        })
    }

    fn move_aside(
        &self,
        base: &Path,
        rels: &[PathBuf],
        into: &str,
        owner: Owner,
    ) -> Result<Vec<PathBuf>, OsError> {
        let mut nodes = self.nodes.lock().expect("lock");
        let mut out = Vec::new();
        for rel in rels {
            let from = base.join(rel);
            let to = base.join(into).join(flat_name(rel));
            self.calls
                .record(format!("move {} -> {}", from.display(), to.display()));
            let moved: Vec<PathBuf> = nodes
                .keys()
                .filter(|p| p.starts_with(&from))
                .cloned()
                .collect();
            for p in moved {
                let n = nodes.remove(&p).expect("listed");
                nodes.insert(to.join(p.strip_prefix(&from).expect("prefix")), n);
            }
            out.push(to);
        }
        nodes.insert(base.join(into), (Kind::Dir, Some(owner), vec![]));
        Ok(out)
    }
}
