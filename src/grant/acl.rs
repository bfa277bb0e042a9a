//! Per-user ACL entries on one file (a device node), through libacl (exacl).

use std::collections::BTreeMap;
use std::path::Path;

use exacl::{AclEntry, AclEntryKind, Flag, Perm};

use crate::config::Permission;
use crate::os::{OsContext, OsError};

pub trait Acls {
    /// The named-user entries on `path`: uid → permission.
    fn users(&self, path: &Path) -> Result<BTreeMap<u32, Permission>, OsError>;
    /// Add or replace the entry for `uid`, leaving every other entry alone.
    fn grant(&self, path: &Path, uid: u32, perm: Permission) -> Result<(), OsError>;
    /// Remove the entry for `uid` only.
    fn revoke(&self, path: &Path, uid: u32) -> Result<(), OsError>;
    /// End what `uid` still has open on `path` once its entry is gone (cut.rs).
    fn cut_off(&self, path: &Path, uid: u32) -> Result<super::Cut, OsError>;
}

#[derive(Debug, Default)]
pub struct PosixAcls;

fn perms(p: Permission) -> Perm {
    match p {
        Permission::R => Perm::READ,
        Permission::Rw => Perm::READ | Perm::WRITE,
    }
}

/// libacl names a user entry by user name when it can: map either form back to the uid.
fn entry_uid(name: &str) -> Option<u32> {
    name.parse().ok().or_else(|| {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })
}

impl PosixAcls {
    fn edit(
        &self,
        path: &Path,
        uid: u32,
        perm: Option<Permission>,
        what: &str,
    ) -> Result<(), OsError> {
        let action = || format!("{what} uid {uid} on {}", path.display());
        let mut entries = exacl::getfacl(path, None).os(action)?;
        let name = uid.to_string();
        entries.retain(|e| {
            !(e.kind == AclEntryKind::User && entry_uid(&e.name) == Some(uid))
                && e.kind != AclEntryKind::Mask
        });
        if let Some(p) = perm {
            entries.push(AclEntry::allow_user(&name, perms(p), None));
        }
        // The mask caps named entries: it must cover every one of them (and the owning group).
        let mask = entries
            .iter()
            .filter(|e| {
                e.kind == AclEntryKind::Group
                    || (e.kind == AclEntryKind::User && !e.name.is_empty())
            })
            .fold(Perm::empty(), |m, e| m | e.perms);
        let named = entries.iter().any(|e| !e.name.is_empty());
        if named {
            entries.push(AclEntry::allow_mask(mask, None::<Flag>));
        }
        exacl::setfacl(&[path], &entries, None).os(action)
    }
}

impl Acls for PosixAcls {
    fn users(&self, path: &Path) -> Result<BTreeMap<u32, Permission>, OsError> {
        let entries =
            exacl::getfacl(path, None).os(|| format!("reading the ACL of {}", path.display()))?;
        Ok(entries
            .into_iter()
            .filter(|e| e.kind == AclEntryKind::User && !e.name.is_empty())
            .filter_map(|e| {
                let p = if e.perms.contains(Perm::WRITE) {
                    Permission::Rw
                } else {
                    Permission::R
                };
                entry_uid(&e.name).map(|uid| (uid, p))
            })
            .collect())
    }

    fn grant(&self, path: &Path, uid: u32, perm: Permission) -> Result<(), OsError> {
        self.edit(path, uid, Some(perm), "granting")
    }

    fn revoke(&self, path: &Path, uid: u32) -> Result<(), OsError> {
        self.edit(path, uid, None, "revoking")
    }

    fn cut_off(&self, path: &Path, uid: u32) -> Result<super::Cut, OsError> {
        super::cut::cut_off(path, uid)
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeAcls;
