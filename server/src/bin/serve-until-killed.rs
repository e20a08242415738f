//! A bare server for tests that kill it: `serve-until-killed DATA_DIR` serves
//! AMQP on an ephemeral loopback port, prints `listening on ADDR` as its first
//! line of output, and runs until the process is killed. It never shuts down
//! gracefully, which is the point: the crash-safety test SIGKILLs it.

#![forbid(unsafe_code)]

use brokerlab_server::{Options, Server};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(data_dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: serve-until-killed DATA_DIR");
        return ExitCode::from(2);
    };
    let options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.into(),
        ..Options::new()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("serve-until-killed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let server = Server::bind(options).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.local_addr()?)?;
        out.flush()?;
        drop(out);
        server.run(std::future::pending()).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("serve-until-killed: {error}");
            ExitCode::FAILURE
        }
    }
}
