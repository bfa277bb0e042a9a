//! The real helpers, run as the test's own user in a scratch workspace.

use std::os::unix::fs::MetadataExt;

use super::*;

fn me(dir: &Path) -> Resident {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    Resident {
        uid,
        gid,
        home: dir.into(),
        workspace: dir.join("work"),
        persist: dir.join("persist"),
    }
}

#[test]
fn names_are_one_plain_component() {
    assert_eq!(safe_name("photo 1.JPG"), "photo_1.JPG");
    assert_eq!(safe_name("../../etc/passwd"), "passwd");
    assert_eq!(safe_name(".bashrc"), "bashrc");
    assert_eq!(safe_name("..."), "file");
    assert_eq!(safe_name("привет.txt"), "______.txt");
    assert_eq!(safe_name(&"a".repeat(300)).len(), 100);
    assert_eq!(mimetype("plot.png"), "image/png");
    assert_eq!(mimetype("blob"), "application/octet-stream");
}

#[test]
fn a_delivery_never_overwrites_and_lands_under_a_safe_name() {
    let dir = tempfile::tempdir().unwrap();
    let r = me(dir.path());
    let src = dir.path().join("src");
    std::fs::write(&src, b"first").unwrap();
    let a = deliver(&r, "../x y.png", std::fs::File::open(&src).unwrap()).unwrap();
    assert_eq!(a, r.workspace.join("inbox/x_y.png"));
    let b = deliver(&r, "x y.png", std::fs::File::open(&src).unwrap()).unwrap();
    assert_eq!(b, r.workspace.join("inbox/1-x_y.png"));
    // A planted symlink takes the name: the delivery goes beside it, never through it.
    let target = dir.path().join("target");
    std::os::unix::fs::symlink(&target, r.workspace.join("inbox/c.txt")).unwrap();
    let c = deliver(&r, "c.txt", std::fs::File::open(&src).unwrap()).unwrap();
    assert_eq!(c, r.workspace.join("inbox/1-c.txt"));
    assert!(!target.exists());
    assert_eq!(std::fs::read(&a).unwrap(), b"first");
    assert_eq!(std::fs::metadata(&a).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn the_outbox_is_taken_once_with_what_is_left_said() {
    let dir = tempfile::tempdir().unwrap();
    let r = me(dir.path());
    let out = r.workspace.join("outbox");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("plot.png"), b"\x89PNG fake").unwrap();
    std::fs::write(out.join("big.bin"), vec![0u8; 2000]).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", out.join("link")).unwrap();
    let (fifo, spool) = (out.join("fifo"), dir.path().join("spool"));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::create_dir(&spool).unwrap();
    let (taken, notes) = take(&r, 1000, || Ok(spool.clone()), r.gid);
    assert_eq!(
        taken.len(),
        1,
        "only the plain file within the cap: {taken:?} {notes:?}"
    );
    assert_eq!(
        (
            taken[0].name.as_str(),
            taken[0].mimetype.as_str(),
            taken[0].bytes
        ),
        ("plot.png", "image/png", 9)
    );
    assert_eq!(std::fs::read(&taken[0].path).unwrap(), b"\x89PNG fake");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("outbox/big.bin is 2.0 KiB, over the 1000 bytes")),
        "{notes:?}"
    );
    assert!(out.join("sent/plot.png").exists() && out.join("big.bin").exists());
    let (again, _) = take(&r, 1000, || Ok(spool.clone()), r.gid);
    assert!(again.is_empty(), "a sent file is not sent twice");
    // No outbox at all is no error.
    std::fs::remove_dir_all(&r.workspace).unwrap();
    assert_eq!(
        take(&r, 1000, || Ok(spool.clone()), r.gid),
        (vec![], vec![])
    );
}

#[test]
fn only_the_chats_own_plain_files_are_taken_from_its_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path();
    let me = nix::unistd::getuid().as_raw();
    std::fs::write(spool.join("ok"), b"hi").unwrap();
    assert!(open_spooled(&spool.join("ok"), spool, me, 10).is_ok());
    assert!(
        open_spooled(&spool.join("ok"), spool, me, 1)
            .unwrap_err()
            .to_string()
            .contains("over the")
    );
    assert!(
        open_spooled(&spool.join("ok"), spool, me + 1, 10).is_err(),
        "someone else's file"
    );
    std::os::unix::fs::symlink("/etc/hostname", spool.join("link")).unwrap();
    assert!(open_spooled(&spool.join("link"), spool, me, 10).is_err());
    assert!(
        open_spooled(Path::new("/etc/hostname"), spool, me, 10)
            .unwrap_err()
            .to_string()
            .contains("not in the chat's spool")
    );
}

#[test]
fn a_picked_file_is_sent_only_when_it_is_a_plain_file_inside_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let r = me(dir.path());
    std::fs::create_dir_all(&r.workspace).unwrap();
    std::fs::write(r.workspace.join("report.txt"), b"findings\n").unwrap();
    std::fs::write(r.workspace.join("big.bin"), vec![0u8; 2000]).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", r.workspace.join("out.txt")).unwrap();
    nix::unistd::mkfifo(&r.workspace.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A persisted path is a link from the home into /persist/NAME: its files are the
    // resident's too.
    std::fs::create_dir_all(&r.persist).unwrap();
    std::fs::write(r.persist.join("kept.txt"), b"kept").unwrap();
    std::os::unix::fs::symlink(&r.persist, r.workspace.join("kept")).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let send = |path: &str| picked::copy(&r, path, 1000, spool.path(), r.gid);
    assert_eq!(send("kept/kept.txt").unwrap().bytes, 4);

    let sent = send("report.txt").unwrap();
    assert_eq!((sent.name.as_str(), sent.bytes), ("report.txt", 9));
    assert_eq!(std::fs::read(&sent.path).unwrap(), b"findings\n");
    let absolute = r.workspace.join("report.txt");
    std::fs::remove_file(&sent.path).unwrap();
    assert!(
        send(absolute.to_str().unwrap()).is_ok(),
        "an absolute path in the home"
    );

    for (path, why) in [
        ("out.txt", "not inside your home"),
        ("/etc/hostname", "not inside your home"),
        ("../../../etc/hostname", "not inside your home"),
        ("fifo", "not a regular file"),
        ("missing.txt", "not a regular file"),
        ("big.bin", "over the 1000 bytes"),
    ] {
        let e = send(path).unwrap_err().to_string();
        assert!(e.contains(why), "{path}: {e}");
    }
    // Nothing refused is left in the spool.
    let left: Vec<_> = std::fs::read_dir(spool.path()).unwrap().collect();
    assert_eq!(left.len(), 2, "only kept.txt and report.txt: {left:?}");
}
