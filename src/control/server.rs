//! The daemon's end of the control socket.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Request, Response};
use townhall_wire::lines::{self, Rules};

/// What the daemon does with a request: any number of responses, sent as they happen.
/// Kept as a trait so the socket code is tested alone.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request, out: mpsc::Sender<Response>) -> impl Future<Output = ()> + Send;
}

impl lines::Answer for Response {
    fn refusal(message: String) -> Self {
        Response::Error { message }
    }
}

/// Bind the socket (replacing a stale one) and answer requests until the task is dropped;
/// only a failure to bind returns.
pub async fn serve<H: Handler>(path: &Path, handler: Arc<H>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let listener = lines::bind(path, 0o600)?;
    // Directory modes already keep others out; the uid check holds even if they are changed.
    let our_uid = nix::unistd::geteuid().as_raw();
    let rules = Rules {
        name: "the control socket",
        permit: Box::new(move |uid| uid == 0 || uid == our_uid),
        per_uid: Box::new(|_| 256),
        refused: "only root may use the control socket",
        max_line: 1 << 20,
        watch_peer: false,
    };
    let parse = |line: &str| serde_json::from_str::<Request>(line);
    lines::serve(listener, Arc::new(rules), parse, move |req, _uid, out| {
        let handler = handler.clone();
        async move { handler.handle(req, out).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ClientError, StatusReport, call};
    use tokio::sync::mpsc;

    struct Fixed;
    impl Handler for Fixed {
        async fn handle(&self, _: Request, out: mpsc::Sender<Response>) {
            let status = StatusReport {
                town: "t".into(),
                version: "0".into(),
                pid: 1,
                uptime_secs: 2,
                round: 0,
                residents: vec![],
                turns: vec![],
                host: vec![],
                retired: vec![],
            };
            let _ = out.send(Response::Stopped { turns: 7 }).await;
            let _ = out.send(Response::Status(status)).await;
        }
    }

    #[tokio::test]
    async fn round_trip_and_daemon_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/control.sock");
        match call(&path, &Request::Status).await {
            Err(ClientError::DaemonDown { .. }) => {}
            other => panic!("expected DaemonDown, got {other:?}"),
        }
        let server = tokio::spawn({
            let path = path.clone();
            async move { serve(&path, Arc::new(Fixed)).await }
        });
        for _ in 0..100 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut got = Vec::new();
        crate::control::stream(&path, &Request::Status, |r| got.push(r))
            .await
            .unwrap();
        assert!(
            matches!(&got[..], [Response::Stopped { turns: 7 }, Response::Status(s)] if s.town == "t"),
            "{got:?}"
        );
        server.abort();
    }
}

#[cfg(test)]
mod shapes {
    use crate::control::Response;

    /// Responses are internally tagged: every variant must serialise (a bare sequence cannot).
    #[test]
    fn every_response_serialises() {
        let all = [
            Response::Devices { devices: vec![] },
            Response::Stopped { turns: 1 },
            Response::Reloaded { residents: 2 },
            Response::Event(crate::turn::TurnEvent::Queued { ahead: 1 }),
            Response::Error {
                message: "x".into(),
            },
        ];
        for r in all {
            let s = serde_json::to_string(&r).unwrap();
            let back: Response = serde_json::from_str(&s).unwrap();
            assert_eq!(
                serde_json::to_string(&back).unwrap(),
                s,
                "{s} changed on the way"
            );
        }
    }
}
