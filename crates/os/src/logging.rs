//! Logging for each townhall process: the journal under systemd (with the process's own
//! identifier), else stderr. matrix-sdk says something at info on every sync: only its
//! warnings are kept. `TOWNHALL_LOG` overrides the filter.

pub fn init(identifier: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOWNHALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk_crypto=warn,matrix_sdk_sqlite=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        registry
            .with(journald.with_syslog_identifier(identifier.into()))
            .init();
        return;
    }
    registry
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}
