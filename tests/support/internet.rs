//! "The internet" for egress checks: a network namespace of the harness's own, joined to the
//! town's by a veth pair, with documentation addresses (203.0.113.0/24, 2001:db8::/64) that
//! no real host answers. Its listeners record, in arrival order, the first line each TCP
//! connection or UDP datagram carries, so a check proves an absence with a barrier: a later
//! send from an unfiltered user arrives first.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use nix::sched::{CloneFlags, setns};

use super::town::Town;

/// The town's end of the link, and the far host.
pub const TOWN_SIDE: &str = "203.0.113.1";
pub const HOST: &str = "203.0.113.2";
pub const HOST6: &str = "2001:db8::2";
/// The far host serves TCP here (both families) and takes datagrams on DNS's port.
pub const TCP_PORT: u16 = 80;
pub const DNS_PORT: u16 = 53;

pub struct Internet {
    name: String,
    link: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Internet {
    pub fn start() -> anyhow::Result<Self> {
        let name = format!("th-net-{}", std::process::id());
        let link = String::from("th-inet0");
        let peer = "th-inet1";
        // Leftovers of a killed run would make the names clash.
        let _ = Command::new("ip").args(["link", "del", &link]).output();
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name])?;
        let mut me = Self {
            name: name.clone(),
            link: link.clone(),
            seen: Default::default(),
            stop: Default::default(),
            thread: None,
        };
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", peer, "netns", &name,
        ])?;
        ip(&["addr", "add", &format!("{TOWN_SIDE}/24"), "dev", &link])?;
        ip(&["-6", "addr", "add", "2001:db8::1/64", "dev", &link, "nodad"])?;
        ip(&["link", "set", &link, "up"])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{HOST}/24"),
            "dev",
            peer,
        ])?;
        ip(&[
            "-n",
            &name,
            "-6",
            "addr",
            "add",
            &format!("{HOST6}/64"),
            "dev",
            peer,
            "nodad",
        ])?;
        ip(&["-n", &name, "link", "set", peer, "up"])?;
        me.listen()?;
        Ok(me)
    }

    /// Bind the listeners from a thread that has joined the namespace (setns changes the
    /// calling thread only), then serve them until dropped.
    fn listen(&mut self) -> anyhow::Result<()> {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.name))?;
        let (seen, stop) = (self.seen.clone(), self.stop.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let bound = (|| -> anyhow::Result<_> {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
                let v4 = TcpListener::bind((HOST, TCP_PORT))?;
                let v6 = TcpListener::bind((HOST6, TCP_PORT))?;
                let dns = UdpSocket::bind((HOST, DNS_PORT))?;
                for l in [&v4, &v6] {
                    l.set_nonblocking(true)?;
                }
                dns.set_read_timeout(Some(Duration::from_millis(20)))?;
                Ok((v4, v6, dns))
            })();
            let (v4, v6, dns) = match bound {
                Ok(b) => {
                    let _ = ready_tx.send(Ok(()));
                    b
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                for (family, l) in [("tcp4", &v4), ("tcp6", &v6)] {
                    if let Ok((s, _)) = l.accept() {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut line = String::new();
                        let _ = BufReader::new(&s).read_line(&mut line);
                        seen.lock()
                            .unwrap()
                            .push(format!("{family} {}", line.trim()));
                    }
                }
                if let Ok(n) = dns.recv(&mut buf) {
                    let said = String::from_utf8_lossy(&buf[..n]);
                    seen.lock().unwrap().push(format!("udp {}", said.trim()));
                }
            }
        });
        self.thread = Some(thread);
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the internet's listeners never came up")??;
        Ok(())
    }

    /// What arrived so far, oldest first: "tcp4 LINE", "tcp6 LINE", "udp DATAGRAM".
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Names for "the internet" in the town's /etc/hosts until dropped: the gate resolves them
/// itself, as it would resolve any name.
pub struct Names<'a> {
    t: &'a Town,
    /// The file as it was, if there was one (a minimal rootfs has none).
    before: Option<String>,
}

impl<'a> Names<'a> {
    pub fn add(t: &'a Town, lines: &str) -> anyhow::Result<Self> {
        let path = t.run.join("root/etc/hosts");
        let before = std::fs::read_to_string(&path).ok();
        let now = format!("{}{lines}\n", before.as_deref().unwrap_or(""));
        std::fs::write(&path, now)?;
        Ok(Self { t, before })
    }
}

impl Drop for Names<'_> {
    fn drop(&mut self) {
        let path = self.t.run.join("root/etc/hosts");
        let _ = match &self.before {
            Some(b) => std::fs::write(path, b),
            None => std::fs::remove_file(path),
        };
    }
}
