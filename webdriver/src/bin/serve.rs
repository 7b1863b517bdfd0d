//! `serve [--dir DIR] [--port PORT]`: serves the built page (default `dist` on port 8080, or env
//! `PORT`) on 127.0.0.1 with the project's Content-Security-Policy, until Ctrl-C.

use std::process::ExitCode;
use webdriver::server::Server;

const USAGE: &str = "usage: serve [--dir DIR] [--port PORT]   (defaults: dist, $PORT or 8080)";

fn main() -> ExitCode {
    let mut dir = String::from("dist");
    let mut port: Option<String> = std::env::var("PORT").ok().filter(|p| !p.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| args.next()).ok_or(name.to_string());
        match flag.as_str() {
            "--dir" | "-d" => match value("--dir") {
                Ok(v) => dir = v,
                Err(_) => return usage("--dir needs a value"),
            },
            "--port" | "-p" => match value("--port") {
                Ok(v) => port = Some(v),
                Err(_) => return usage("--port needs a value"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let port: u16 = match port.as_deref().unwrap_or("8080").parse() {
        Ok(p) => p,
        Err(_) => return usage("PORT must be a number from 0 to 65535"),
    };
    let server = match Server::start(&dir, port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("serve: cannot serve {dir} on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Serving {dir} at {}", server.url());
    // Serve until the process is interrupted (Ctrl-C ends it; the OS closes the socket).
    loop {
        std::thread::park();
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("serve: {msg}\n{USAGE}");
    ExitCode::from(2)
}
