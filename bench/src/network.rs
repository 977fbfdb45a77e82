//! Network workloads: goodput and request/response latency between the
//! container and the host (issue 5).
//!
//! The server side runs **inside** the container, from the same Debian
//! bookworm root as the servers (`src/servers.rs`): iperf3 (Debian's
//! `iperf3`, which the root includes) for the streams, and
//! `workloads/tcp_rr.c` (static, copied into the run's `/tmp/<run id>`)
//! for the round trips. The load generator runs on the host: Debian's
//! `iperf3 -c ... --json`, or the same `tcp_rr` binary as a client.
//!
//! The container reaches the host over loopback in the host's network
//! namespace (native, runc, crun, runsc, `oxbox do --network host`), or,
//! for oxbox's sandbox mode, through the kernel's own TCP/IP stack:
//! `oxbox do --network sandbox -p 127.0.0.1:PORT:PORT`, the host side
//! connecting to the published port (oxbox's relay, then the veth).
//!
//! A server counts as ready once it answers as itself over a fresh
//! connection: iperf3 takes a test cookie and asks for the parameters,
//! tcp_rr echoes a byte. Through the sandbox's published port a
//! connection is accepted by the relay before the guest listens, so a
//! mere connect would prove nothing.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::harness::two_digits;
use crate::servers::Server;

/// A network workload's server and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// An iperf3 TCP stream of `message`-byte writes (`iperf3 -l`) from
    /// the host to the container, or from the container to the host when
    /// `reverse` (`-R`): goodput in Mbit/s, as the receiver counted it.
    Stream { message: u32, reverse: bool },
    /// `size` bytes to the container's echo server and back, one round
    /// trip after the other on one connection (netperf's TCP_RR): the
    /// mean round trip in microseconds.
    RequestResponse { size: u32 },
}

/// The message size from which a stream is bulk transfer: the one the
/// sandbox mode's goodput target is about.
pub const BULK_MESSAGE: u32 = 64 * 1024;

/// Where iperf3 is in the Debian root.
pub const IPERF3: &str = "/usr/bin/iperf3";

/// The TCP_RR program's name in the run's scratch directory.
pub const TCP_RR: &str = "tcp_rr";

/// A bound on a stream's bytes: a long run is not a better number.
const MAX_STREAM_BYTES: u64 = 64 << 30;

/// A bound on round trips, for the same reason.
const MAX_ROUNDS: u64 = 10_000_000;

/// How long a readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// iperf3's control protocol: the client sends a 37-byte cookie (36
/// characters and a NUL); a server ready for a test answers with the
/// state `PARAM_EXCHANGE`.
const IPERF3_COOKIE_LEN: usize = 37;
const IPERF3_PARAM_EXCHANGE: u8 = 9;

impl Net {
    /// Whether a larger number is better: goodput yes, latency no.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::Stream { .. })
    }

    /// Whether this is bulk goodput (64 KiB writes).
    pub fn is_bulk(self) -> bool {
        matches!(self, Self::Stream { message, .. } if message >= BULK_MESSAGE)
    }

    /// The server's argv inside the container, listening on
    /// `bind:port`; `dir` is its scratch directory there.
    pub fn argv(self, dir: &str, bind: Ipv4Addr, port: u16) -> Vec<String> {
        match self {
            // iperf3 3.12 listens on IPv6 unless given an address, and
            // the sandbox stack has no IPv6 yet: always an IPv4 one.
            // --forceflush: its "Server listening" lines reach the file
            // at once (see [`Net::ready_after_probe`]).
            Self::Stream { .. } => vec![
                IPERF3.into(),
                "-s".into(),
                "--forceflush".into(),
                "-B".into(),
                bind.to_string(),
                "-p".into(),
                port.to_string(),
            ],
            Self::RequestResponse { .. } => vec![
                format!("{dir}/{TCP_RR}"),
                "serve".into(),
                bind.to_string(),
                port.to_string(),
            ],
        }
    }

    /// Puts what the server needs into `host_dir`, which the container
    /// sees as its scratch directory: the tcp_rr binary.
    pub fn prepare(self, host_dir: &Path, tcp_rr: Option<&Path>) -> Result<()> {
        if let Self::RequestResponse { .. } = self {
            let binary = tcp_rr.context("the tcp_rr program was not built")?;
            fs::copy(binary, host_dir.join(TCP_RR))
                .with_context(|| format!("copying {} into the root", binary.display()))?;
        }
        Ok(())
    }

    /// One exchange over a fresh connection to 127.0.0.1:`port`; fails
    /// unless the server answers as itself.
    pub fn probe(self, port: u16) -> Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
        stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
        let mut answer = [0u8; 1];
        match self {
            Self::Stream { .. } => {
                let mut cookie = [b'p'; IPERF3_COOKIE_LEN];
                cookie[IPERF3_COOKIE_LEN - 1] = 0;
                stream.write_all(&cookie)?;
                stream
                    .read_exact(&mut answer)
                    .context("iperf3 did not answer the cookie")?;
                if answer[0] != IPERF3_PARAM_EXCHANGE {
                    bail!("iperf3 answered state {} to a new test", answer[0] as i8);
                }
            }
            Self::RequestResponse { .. } => {
                stream.write_all(b"?")?;
                stream
                    .read_exact(&mut answer)
                    .context("tcp_rr did not echo")?;
                if &answer != b"?" {
                    bail!("tcp_rr echoed {:?}", answer[0] as char);
                }
            }
        }
        Ok(())
    }

    /// Whether the server, having answered the probe, is ready for the
    /// load, from its stdout so far. iperf3 closes its listening socket
    /// after every test (the probe's too) and opens a new one, printing
    /// `Server listening on PORT (test #N)` each time: a client that
    /// connects in between is refused or reset, so the load waits for the
    /// second such line. tcp_rr keeps listening.
    pub fn ready_after_probe(self, stdout: &str) -> bool {
        match self {
            Self::Stream { .. } => stdout.matches("Server listening on").count() >= 2,
            Self::RequestResponse { .. } => true,
        }
    }

    /// The load generator's program on the host: iperf3 from `$PATH`, or
    /// the tcp_rr binary itself.
    pub fn load_program(self) -> &'static str {
        match self {
            Self::Stream { .. } => "iperf3",
            Self::RequestResponse { .. } => TCP_RR,
        }
    }

    /// The load generator's command line: `amount` is bytes for a
    /// stream, round trips for tcp_rr.
    pub fn load_command(self, program: &Path, port: u16, amount: u64) -> Command {
        let mut c = Command::new(program);
        match self {
            Self::Stream { message, reverse } => {
                c.args(["-c", "127.0.0.1", "-p", &port.to_string()])
                    .args(["-l", &message.to_string()])
                    .args(["-n", &amount.to_string()])
                    .arg("--json");
                if reverse {
                    c.arg("-R");
                }
            }
            Self::RequestResponse { size } => {
                c.args(["client", "127.0.0.1", &port.to_string()])
                    .arg(size.to_string())
                    .arg(amount.to_string());
            }
        }
        c
    }

    /// The result from the load generator's output: Mbit/s or us per
    /// round trip. An iperf3 error, or nothing received, is an error.
    pub fn parse(self, stdout: &str) -> Result<f64> {
        let value = match self {
            Self::Stream { .. } => parse_iperf3_json(stdout)? / 1e6,
            Self::RequestResponse { .. } => crate::workload::parse_ns_per_op(stdout)? / 1e3,
        };
        if !value.is_finite() || value <= 0.0 {
            bail!("no traffic measured ({value})");
        }
        Ok(value)
    }

    /// The pilot run's amount: a few MB of stream (64 MB of 64 KiB
    /// writes), or a few hundred round trips, short even on gVisor.
    pub fn pilot_amount(self) -> u64 {
        match self {
            Self::Stream { message, .. } => (u64::from(message) << 14).min(64 << 20),
            Self::RequestResponse { .. } => 500,
        }
    }

    /// The amount that makes a run last about `seconds`, given the
    /// pilot's result (Mbit/s, or us per round trip).
    pub fn amount_for(self, pilot: f64, seconds: u64) -> u64 {
        let (wanted, max) = match self {
            Self::Stream { .. } => (pilot * 1e6 / 8.0 * seconds as f64, MAX_STREAM_BYTES),
            Self::RequestResponse { .. } => (seconds as f64 * 1e6 / pilot, MAX_ROUNDS),
        };
        if !wanted.is_finite() {
            return max;
        }
        // Two significant digits, as calibrated loops are.
        two_digits(wanted).clamp(self.pilot_amount(), max)
    }

    /// How the load is put on the server, for the report.
    pub fn load_description(self) -> String {
        match self {
            Self::Stream { message, reverse } => format!(
                "iperf3 -c 127.0.0.1 -p PORT -l {message} -n BYTES --json{} (server: iperf3 -s in the container)",
                if reverse { " -R" } else { "" }
            ),
            Self::RequestResponse { size } => format!(
                "tcp_rr client 127.0.0.1 PORT {size} ROUNDS (server: tcp_rr serve in the container, an echo)"
            ),
        }
    }
}

/// The receiver's goodput in bits per second from `iperf3 --json`:
/// `end.sum_received.bits_per_second`. The receiver's count is the
/// goodput (what arrived, over the time it took); the sender's counts
/// what was written into the socket. In a reverse test the receiver is
/// the client, which changes nothing here: `sum_received` is always the
/// receiving side's.
pub fn parse_iperf3_json(stdout: &str) -> Result<f64> {
    let json: Value = serde_json::from_str(stdout).with_context(|| {
        format!(
            "iperf3's output is not JSON: {:?}",
            stdout.lines().next().unwrap_or("")
        )
    })?;
    if let Some(error) = json.get("error").and_then(Value::as_str) {
        bail!("iperf3: {error}");
    }
    let received = &json["end"]["sum_received"];
    let bytes = received["bytes"].as_u64().unwrap_or(0);
    if bytes == 0 {
        bail!("iperf3: nothing received");
    }
    received["bits_per_second"]
        .as_f64()
        .context("iperf3: no end.sum_received.bits_per_second")
}

/// A server in the container loaded from the host: the servers group's
/// or the network group's. Their runs share one procedure
/// (`Runner::serve`); this is what differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Server(Server),
    Net(Net),
}

impl Service {
    /// The result in the workload's unit, from the load's stdout.
    pub fn parse(self, stdout: &str) -> Result<f64> {
        match self {
            Self::Server(s) => s.parse(stdout),
            Self::Net(n) => n.parse(stdout),
        }
    }

    pub fn pilot_amount(self) -> u64 {
        match self {
            Self::Server(s) => s.pilot_amount(),
            Self::Net(n) => n.pilot_amount(),
        }
    }

    pub fn amount_for(self, pilot: f64, seconds: u64) -> u64 {
        match self {
            Self::Server(s) => s.amount_for(pilot, seconds),
            Self::Net(n) => n.amount_for(pilot, seconds),
        }
    }

    pub fn probe(self, port: u16) -> Result<()> {
        match self {
            Self::Server(s) => s.probe(port),
            Self::Net(n) => n.probe(port),
        }
    }

    /// See [`Net::ready_after_probe`]; the servers are ready once they
    /// answer.
    pub fn ready_after_probe(self, stdout: &str) -> bool {
        match self {
            Self::Server(_) => true,
            Self::Net(n) => n.ready_after_probe(stdout),
        }
    }

    pub fn load_description(self) -> String {
        match self {
            Self::Server(s) => s.load_description(),
            Self::Net(n) => n.load_description(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// `iperf3 -c 127.0.0.1 -p 15202 -l 64 -n 10M --json`, abridged to
    /// what is read (3.12 on this machine).
    const IPERF3_JSON: &str = r#"{
	"start":	{
		"version":	"iperf 3.12",
		"test_start":	{"protocol": "TCP", "num_streams": 1, "blksize": 64, "bytes": 10485760, "reverse": 0}
	},
	"intervals":	[],
	"end":	{
		"streams":	[],
		"sum_sent":	{"start": 0, "end": 0.564151, "seconds": 0.564151, "bytes": 10485760, "bits_per_second": 148694374.37849087, "retransmits": 1, "sender": true},
		"sum_received":	{"start": 0, "end": 0.565169, "seconds": 0.565169, "bytes": 8120768, "bits_per_second": 114949942.40660757, "sender": true},
		"cpu_utilization_percent":	{"host_total": 27.4}
	}
}"#;

    /// What 3.12 prints with --json when it cannot reach the server.
    const IPERF3_REFUSED: &str = r#"{
	"start":	{"connected": [], "version": "iperf 3.12"},
	"intervals":	[],
	"end":	{},
	"error":	"unable to connect to server: Connection refused"
}"#;

    const STREAM_64: Net = Net::Stream {
        message: 64,
        reverse: false,
    };

    #[test]
    fn iperf3_goodput_is_the_receivers_in_mbit_per_second() {
        let mbit = STREAM_64.parse(IPERF3_JSON).unwrap();
        assert!((mbit - 114.949942).abs() < 1e-6, "{mbit}");
    }

    #[test]
    fn iperf3_errors_and_empty_transfers_are_failures_not_numbers() {
        let err = STREAM_64.parse(IPERF3_REFUSED).unwrap_err().to_string();
        assert!(err.contains("Connection refused"), "{err}");
        let nothing = IPERF3_JSON.replace("\"bytes\": 8120768", "\"bytes\": 0");
        assert!(STREAM_64.parse(&nothing).is_err());
        assert!(STREAM_64.parse("iperf3: error - bad\n").is_err());
        assert!(STREAM_64.parse("{\"end\": {}}").is_err());
    }

    #[test]
    fn tcp_rr_is_read_in_microseconds() {
        let rr = Net::RequestResponse { size: 1 };
        assert_eq!(rr.parse("ns_per_op=25400.0\n").unwrap(), 25.4);
        assert!(rr.parse("tcp_rr: connect: refused\n").is_err());
        assert!(rr.parse("ns_per_op=0.0\n").is_err());
    }

    #[test]
    fn commands_carry_port_size_and_amount() {
        let args = |c: Command| crate::servers::command_line(&c);
        let reverse = Net::Stream {
            message: 65536,
            reverse: true,
        };
        assert_eq!(
            args(reverse.load_command(Path::new("iperf3"), 4242, 1_000_000)),
            "-c 127.0.0.1 -p 4242 -l 65536 -n 1000000 --json -R"
        );
        let rr = Net::RequestResponse { size: 1 };
        assert_eq!(
            args(rr.load_command(Path::new("tcp_rr"), 4242, 900)),
            "client 127.0.0.1 4242 1 900"
        );
        let any = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            STREAM_64.argv("/tmp/x", any, 4242),
            [
                "/usr/bin/iperf3",
                "-s",
                "--forceflush",
                "-B",
                "0.0.0.0",
                "-p",
                "4242"
            ]
        );
        assert_eq!(
            rr.argv("/tmp/x", Ipv4Addr::LOCALHOST, 4242),
            ["/tmp/x/tcp_rr", "serve", "127.0.0.1", "4242"]
        );
        assert!(reverse.is_bulk() && !STREAM_64.is_bulk() && !rr.is_bulk());
        assert!(STREAM_64.higher_is_better() && !rr.higher_is_better());
    }

    #[test]
    fn runs_are_sized_to_the_wanted_seconds() {
        // 800 Mbit/s for 5 s: 500 MB.
        assert_eq!(STREAM_64.amount_for(800.0, 5), 500_000_000);
        // Never below the pilot, never absurdly long.
        assert_eq!(STREAM_64.amount_for(0.001, 1), STREAM_64.pilot_amount());
        assert_eq!(STREAM_64.amount_for(1e12, 5), MAX_STREAM_BYTES);
        let rr = Net::RequestResponse { size: 1 };
        // 25 us per round trip for 2 s: 80,000 round trips.
        assert_eq!(rr.amount_for(25.0, 2), 80_000);
        assert_eq!(rr.amount_for(0.0, 2), MAX_ROUNDS);
        assert_eq!(STREAM_64.pilot_amount(), 1 << 20);
        let bulk = Net::Stream {
            message: BULK_MESSAGE,
            reverse: false,
        };
        assert_eq!(bulk.pilot_amount(), 64 << 20);
    }

    /// The listening lines of `iperf3 -s --forceflush` before and after
    /// a probe's test (its error goes to stderr).
    #[test]
    fn iperf3_is_ready_once_it_listens_again() {
        let first = "-----------------------------------------------------------\n\
                     Server listening on 15203 (test #1)\n\
                     -----------------------------------------------------------\n";
        assert!(!STREAM_64.ready_after_probe(""));
        assert!(!STREAM_64.ready_after_probe(first));
        let again = format!("{first}Server listening on 15203 (test #2)\n");
        assert!(STREAM_64.ready_after_probe(&again));
        assert!(Net::RequestResponse { size: 1 }.ready_after_probe(""));
    }

    /// A loopback listener standing in for iperf3: the probe needs its
    /// answer to the cookie, not merely a connection.
    #[test]
    fn probe_wants_the_servers_answer() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = |reply: &'static [u8], want: usize| {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; want];
            s.read_exact(&mut buf).unwrap();
            s.write_all(reply).unwrap();
            buf
        };
        std::thread::scope(|scope| {
            let got = scope.spawn(|| answer(&[IPERF3_PARAM_EXCHANGE], IPERF3_COOKIE_LEN));
            STREAM_64.probe(port).unwrap();
            assert_eq!(got.join().unwrap().last(), Some(&0));
        });
        std::thread::scope(|scope| {
            // iperf3's ACCESS_DENIED: busy with another test.
            scope.spawn(|| answer(&[0xff], IPERF3_COOKIE_LEN));
            assert!(STREAM_64.probe(port).is_err());
        });
        let rr = Net::RequestResponse { size: 1 };
        std::thread::scope(|scope| {
            scope.spawn(|| answer(b"?", 1));
            rr.probe(port).unwrap();
        });
        std::thread::scope(|scope| {
            // Accepted and closed, as the sandbox's relay does before the
            // guest listens.
            scope.spawn(|| drop(listener.accept().unwrap()));
            assert!(rr.probe(port).is_err());
        });
    }
}
