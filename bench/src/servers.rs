//! Server workloads: nginx and redis from a Debian bookworm rootfs inside
//! the container, loaded from the host over loopback by `wrk` and
//! `redis-benchmark`.
//!
//! The rootfs is the one the scenario tests build and cache with
//! debootstrap (`oxbox_integration::debian`, which includes nginx-light
//! and redis-server). A run writes only under a `/tmp/<run id>` directory
//! of that root (configuration, the served file, logs, pid file), as the
//! scenario tests do, and removes it afterwards. Every container shares
//! the host's network namespace, so the server's loopback port is the
//! host's and the load generator needs no veth or port mapping.
//!
//! A server counts as ready once a real request over a fresh connection
//! gets the right answer (nginx a `200` with the file, redis `+PONG`):
//! the number is never taken from a server that does not serve.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::harness::two_digits;

/// The static file nginx serves: small, so the number is request
/// handling (accept, parse, open, sendfile), not bandwidth.
pub const NGINX_FILE_BYTES: usize = 1024;

/// Connections the load generators keep open.
pub const CONNECTIONS: u32 = 16;

/// wrk's threads: one per core of the 2-core machines the report is made
/// on; the server shares those cores.
pub const WRK_THREADS: u32 = 2;

/// A server and the load put on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// nginx with `workers` worker processes serving a small static file
    /// under wrk, for a given number of seconds.
    Nginx { workers: u32 },
    /// redis-server under `redis-benchmark -t test -P pipeline`, for a
    /// given number of requests.
    Redis { test: &'static str, pipeline: u32 },
}

impl Server {
    /// The server's argv inside the container; `dir` is its scratch
    /// directory there.
    pub fn argv(self, dir: &str, port: u16) -> Vec<String> {
        let words: Vec<String> = match self {
            Self::Nginx { .. } => vec![
                "/usr/sbin/nginx".into(),
                // Before it reads its config, nginx opens its compiled-in
                // error log under /var/log: point it at the scratch too.
                "-e".into(),
                format!("{dir}/error.log"),
                "-c".into(),
                format!("{dir}/nginx.conf"),
            ],
            Self::Redis { .. } => [
                "/usr/bin/redis-server",
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                dir,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        };
        words
    }

    /// Writes what the server reads into `host_dir`, which the container
    /// sees as `dir`.
    pub fn prepare(self, host_dir: &Path, dir: &str, port: u16) -> Result<()> {
        let Self::Nginx { workers } = self else {
            return Ok(());
        };
        let www = host_dir.join("www");
        fs::create_dir_all(&www).with_context(|| format!("creating {}", www.display()))?;
        fs::write(www.join("index.html"), nginx_file())?;
        fs::write(host_dir.join("nginx.conf"), nginx_conf(dir, port, workers))
            .context("writing nginx.conf")
    }

    /// One request over a fresh connection; fails unless the server gives
    /// the expected answer.
    pub fn probe(self, port: u16) -> Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
        let (request, expect): (&[u8], &str) = match self {
            Self::Nginx { .. } => (
                b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n",
                "HTTP/1.1 200",
            ),
            Self::Redis { .. } => (b"PING\r\n", "+PONG"),
        };
        stream.write_all(request)?;
        let mut answer = Vec::new();
        match self {
            // HTTP/1.0: the server closes the connection after the body.
            Self::Nginx { .. } => {
                stream.read_to_end(&mut answer)?;
            }
            Self::Redis { .. } => {
                let mut buf = [0u8; 64];
                let n = stream.read(&mut buf)?;
                answer.extend_from_slice(&buf[..n]);
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        if !answer.starts_with(expect) {
            bail!("answered {:?} instead of {expect:?}", first_line(&answer));
        }
        if let Self::Nginx { .. } = self
            && !answer.ends_with(&nginx_file())
        {
            bail!("served something other than the file");
        }
        Ok(())
    }

    /// The load generator's program on the host.
    pub fn load_program(self) -> &'static str {
        match self {
            Self::Nginx { .. } => "wrk",
            Self::Redis { .. } => "redis-benchmark",
        }
    }

    /// The load generator's command line: `amount` is seconds for wrk,
    /// requests for redis-benchmark.
    pub fn load_command(self, program: &Path, port: u16, amount: u64) -> Command {
        let mut c = Command::new(program);
        match self {
            Self::Nginx { .. } => {
                c.arg(format!("-t{WRK_THREADS}"))
                    .arg(format!("-c{CONNECTIONS}"))
                    .arg(format!("-d{amount}s"))
                    .arg(format!("http://127.0.0.1:{port}/index.html"));
            }
            Self::Redis { test, pipeline } => {
                c.args(["-h", "127.0.0.1", "-p", &port.to_string()])
                    .args(["-c", &CONNECTIONS.to_string()])
                    .args(["-n", &amount.to_string()])
                    .args(["-P", &pipeline.to_string()])
                    .args(["-t", test, "--csv"]);
            }
        }
        c
    }

    /// Requests per second from the load generator's output; an output
    /// that shows failed requests is an error, not a number.
    pub fn parse(self, stdout: &str) -> Result<f64> {
        let rps = match self {
            Self::Nginx { .. } => parse_wrk(stdout)?,
            Self::Redis { test, .. } => parse_redis_csv(stdout, test)?,
        };
        if !rps.is_finite() || rps <= 0.0 {
            bail!("no requests served ({rps} requests/s)");
        }
        Ok(rps)
    }

    /// The pilot run's amount: one second of wrk, or a few thousand
    /// requests (well under a second even on gVisor's ptrace platform).
    pub fn pilot_amount(self) -> u64 {
        match self {
            Self::Nginx { .. } => 1,
            Self::Redis { pipeline, .. } => 2_000 * u64::from(pipeline.max(1)),
        }
    }

    /// The amount that makes a run last about `seconds`, given the pilot's
    /// requests per second.
    pub fn amount_for(self, pilot_rps: f64, seconds: u64) -> u64 {
        match self {
            Self::Nginx { .. } => seconds.max(1),
            Self::Redis { .. } => {
                // Two significant digits, as calibrated loops are.
                two_digits(pilot_rps * seconds as f64)
                    .clamp(self.pilot_amount(), MAX_REDIS_REQUESTS)
            }
        }
    }

    /// How the load is put on the server, for the report.
    pub fn load_description(self) -> String {
        match self {
            Self::Nginx { .. } => format!(
                "wrk -t{WRK_THREADS} -c{CONNECTIONS} -dSECONDS http://127.0.0.1:PORT/index.html ({NGINX_FILE_BYTES}-byte file)"
            ),
            Self::Redis { test, pipeline } => {
                format!("redis-benchmark -c {CONNECTIONS} -n REQUESTS -P {pipeline} -t {test}")
            }
        }
    }
}

/// How long a readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound on a redis run's requests: a long run is not a better number.
const MAX_REDIS_REQUESTS: u64 = 20_000_000;

/// A free loopback port: bound by the host kernel, then released for the
/// server to take. Another process could take it in between; the server
/// then fails to start and the run reports why.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn nginx_file() -> String {
    let line = "oxbox-bench static file\n";
    line.repeat(NGINX_FILE_BYTES / line.len() + 1)[..NGINX_FILE_BYTES].to_string()
}

/// nginx's configuration: in the foreground, everything under `dir`, no
/// access log (the log's writes would be part of every request).
fn nginx_conf(dir: &str, port: u16, workers: u32) -> String {
    format!(
        "user root;
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"
    )
}

/// `Requests/sec:  15200.30` from wrk's summary; responses other than
/// 2xx/3xx make the run a failure.
fn parse_wrk(stdout: &str) -> Result<f64> {
    if let Some(line) = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Non-2xx or 3xx responses:"))
    {
        bail!("wrk: {}", line.trim());
    }
    let value = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .with_context(|| {
            format!(
                "no 'Requests/sec:' in wrk's output: {:?}",
                first_line(stdout)
            )
        })?;
    value
        .trim()
        .parse()
        .with_context(|| format!("wrk's 'Requests/sec:{value}' is not a number"))
}

/// `"GET","8752.74",...` from `redis-benchmark --csv`.
fn parse_redis_csv(stdout: &str, test: &str) -> Result<f64> {
    let want = format!("\"{}\"", test.to_ascii_uppercase());
    let line = stdout
        .lines()
        .find(|l| l.split(',').next() == Some(want.as_str()))
        .with_context(|| {
            format!(
                "no {want} line in redis-benchmark's output: {:?}",
                first_line(stdout)
            )
        })?;
    let rps = line.split(',').nth(1).unwrap_or("").trim_matches('"');
    rps.parse()
        .with_context(|| format!("redis-benchmark's rps {rps:?} is not a number"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A command's arguments as one line, for tests.
#[cfg(test)]
pub fn command_line(c: &Command) -> String {
    let words: Vec<_> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 2s test @ http://127.0.0.1:18124/index.html
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms    1.78ms  13.53ms   87.93%
    Req/Sec     7.66k     2.83k   12.13k    55.00%
  30533 requests in 2.01s, 6.99MB read
Requests/sec:  15200.30
Transfer/sec:      3.48MB
";

    #[test]
    fn wrk_requests_per_second_are_read_and_errors_refused() {
        let nginx = Server::Nginx { workers: 1 };
        assert_eq!(nginx.parse(WRK).unwrap(), 15200.30);
        let failing = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 30533\nRequests/sec",
        );
        let err = nginx.parse(&failing).unwrap_err().to_string();
        assert!(err.contains("Non-2xx"), "{err}");
        assert!(nginx.parse("unable to connect\n").is_err());
        assert!(nginx.parse(&WRK.replace("15200.30", "0.00")).is_err());
    }

    #[test]
    fn redis_csv_is_read_for_the_test_run() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\"\n\"GET\",\"8752.74\",\"1.553\"\n";
        let get = Server::Redis {
            test: "get",
            pipeline: 1,
        };
        assert_eq!(get.parse(csv).unwrap(), 8752.74);
        let set = Server::Redis {
            test: "set",
            pipeline: 16,
        };
        assert!(set.parse(csv).is_err());
        assert!(get.parse("Could not connect to Redis\n").is_err());
    }

    #[test]
    fn commands_carry_port_and_load() {
        let redis = Server::Redis {
            test: "set",
            pipeline: 16,
        };
        let args = |c: Command| command_line(&c);
        let c = redis.load_command(Path::new("redis-benchmark"), 4242, 1000);
        assert_eq!(
            args(c),
            "-h 127.0.0.1 -p 4242 -c 16 -n 1000 -P 16 -t set --csv"
        );
        let argv = redis.argv("/tmp/r", 4242);
        assert!(argv.windows(2).any(|w| w == ["--port", "4242"]));
        assert!(argv.windows(2).any(|w| w == ["--dir", "/tmp/r"]));
        let nginx = Server::Nginx { workers: 2 };
        let c = nginx.load_command(Path::new("wrk"), 4242, 3);
        assert_eq!(args(c), "-t2 -c16 -d3s http://127.0.0.1:4242/index.html");
        let conf = nginx_conf("/tmp/n", 4242, 2);
        assert!(conf.contains("worker_processes 2;"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:4242;"), "{conf}");
    }

    #[test]
    fn redis_runs_are_sized_to_the_wanted_seconds() {
        let get = Server::Redis {
            test: "get",
            pipeline: 1,
        };
        assert_eq!(get.amount_for(8_752.0, 2), 18_000);
        // Never below the pilot, never absurdly long.
        assert_eq!(get.amount_for(10.0, 1), 2_000);
        assert_eq!(get.amount_for(1e9, 5), MAX_REDIS_REQUESTS);
        assert_eq!(Server::Nginx { workers: 1 }.amount_for(5.0, 3), 3);
    }

    /// A loopback listener standing in for redis: the probe needs the
    /// right answer, not merely a connection.
    #[test]
    fn probe_wants_the_servers_answer() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = |reply: &'static [u8]| {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(reply).unwrap();
        };
        let redis = Server::Redis {
            test: "get",
            pipeline: 1,
        };
        std::thread::scope(|scope| {
            scope.spawn(|| answer(b"+PONG\r\n"));
            redis.probe(port).unwrap();
        });
        std::thread::scope(|scope| {
            scope.spawn(|| answer(b"-ERR loading\r\n"));
            assert!(redis.probe(port).is_err());
        });
        assert!(free_port().unwrap() > 0);
    }
}
