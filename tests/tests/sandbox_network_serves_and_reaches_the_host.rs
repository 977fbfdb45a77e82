//! `oxbox do --network sandbox`: the container's TCP/IP is its own stack
//! (`crates/netstack`) on a veth pair, and real programs use it both ways:
//! python's `http.server` inside serves curl on the host at the
//! container's address and through a port published with `-p` (which a
//! second container then cannot take), a forked child accepts on its parent's listening
//! socket, busybox `wget` inside fetches from a server on the host end's
//! address, socket calls with bad input fail as natively, UDP over
//! loopback answers as on Linux (also through `read`, `write`, `dup`, an
//! exec and `SCM_RIGHTS`), and a python UDP echo server inside
//! answers the host and sends to it, also through a UDP port published
//! with `-p PORT/udp`, to two host clients each through a flow of its own.
//! From the host, the container's processes hold no host TCP/UDP socket at
//! all.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use oxbox_integration::{Run, Watchdog, debian, oxbox_bin, require_root, rootfs};

/// A container started with `--network sandbox`, running in the
/// background until dropped.
struct Sandbox {
    watchdog: Watchdog,
    child: Child,
    stdout: BufReader<ChildStdout>,
    address: String,
    gateway: String,
}

impl Sandbox {
    /// Starts `argv` in `root` (with `extra` options of `oxbox do`) and
    /// waits for the stack's report of the container's addresses.
    fn start(root: &Path, extra: &[&str], argv: &[&str]) -> Sandbox {
        let mut child = Command::new(oxbox_bin())
            .args(["do", "--network", "sandbox", "--rootfs"])
            .arg(root)
            .args(extra)
            .arg("--")
            .args(argv)
            .env("OXBOX_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oxbox");
        let watchdog = Watchdog::new(child.id());
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut seen = String::new();
        let (address, gateway) = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).expect("read oxbox's stderr") == 0 {
                panic!(
                    "oxbox ended before its network was up ({}):\n{seen}",
                    watchdog.verdict()
                );
            }
            seen.push_str(&line);
            // "container network: eth0 A/30 via G (host interface oxbN)"
            if let Some(rest) = line.split("container network: eth0 ").nth(1) {
                let address = rest.split('/').next().expect("address").to_string();
                let gateway = rest.split("via ").nth(1).expect("gateway");
                let gateway = gateway.split(' ').next().expect("gateway").to_string();
                break (address, gateway);
            }
        };
        // The rest of stderr (the kernel's info lines) is drained so the
        // container never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Sandbox {
            watchdog,
            child,
            stdout,
            address,
            gateway,
        }
    }

    /// Reads the guest's stdout up to a line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).expect("read stdout") == 0 {
                panic!(
                    "the guest ended before printing {text:?} ({}):\n{seen}",
                    self.watchdog.verdict()
                );
            }
            if line.contains(text) {
                return;
            }
            seen.push_str(&line);
        }
    }

    /// Waits for the container to exit: its exit status.
    fn wait(mut self) -> (i32, String) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read stdout");
        self.watchdog.disarm();
        let status = self.child.wait().expect("wait for oxbox");
        (status.code().unwrap_or(-1), rest)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.watchdog.disarm();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// python's `http.server` serving `/`, unbuffered.
const HTTP_SERVER: [&str; 9] = [
    "python3",
    "-u",
    "-m",
    "http.server",
    "--bind",
    "0.0.0.0",
    "--directory",
    "/",
    "8000",
];

/// curl on the host gets files of `root` from the server at `base`: a
/// small one, then megabytes (the end of which is still in flight when
/// the server closes its socket).
fn curl_gets_the_rootfs_files(root: &Path, base: &str) {
    for file in ["etc/os-release", "usr/bin/python3"] {
        let url = format!("{base}/{file}");
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "60", &url])
            .output()
            .expect("run curl");
        assert!(out.status.success(), "curl {url}: {:?}", out.stderr);
        let expected = std::fs::read(root.join(file)).expect("the rootfs's file");
        assert!(
            out.stdout == expected,
            "curl got {} bytes of {} from {url}",
            out.stdout.len(),
            expected.len()
        );
    }
}

/// The host pids of the container's processes: those in the pid namespace
/// of oxbox's child that runs the kernel.
fn container_pids(oxbox: u32) -> Vec<u32> {
    let children = std::fs::read_to_string(format!("/proc/{oxbox}/task/{oxbox}/children"))
        .expect("oxbox's children");
    let first = children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"oxbox-kernel"))
        })
        .expect("the container's first process");
    let ns = std::fs::read_link(format!("/proc/{first}/ns/pid")).expect("its pid namespace");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
        .collect()
}

/// The inodes of the sockets `pid` holds.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("its descriptors")
        .filter_map(|e| {
            let target = std::fs::read_link(e.ok()?.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The inodes and local ports of the host's TCP/UDP/raw sockets in the
/// network namespace of `pid`.
fn inet_sockets(pid: u32) -> Vec<(u64, u16)> {
    let mut out = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields[1].rsplit(':').next().expect("local port");
            out.push((
                fields[9].parse().expect("inode"),
                u16::from_str_radix(port, 16).expect("hex port"),
            ));
        }
    }
    out
}

#[test]
fn python_http_server_inside_serves_curl_on_the_host_and_holds_no_host_socket() {
    require_root!();
    let root = debian().path();
    let mut sandbox = Sandbox::start(root, &[], &HTTP_SERVER);
    sandbox.wait_for("Serving HTTP on 0.0.0.0 port 8000");
    curl_gets_the_rootfs_files(root, &format!("http://{}:8000", sandbox.address));

    let pids = container_pids(sandbox.child.id());
    let held: HashSet<u64> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    assert!(
        !held.is_empty(),
        "python's sockets are host unix sockets the stack handed out"
    );
    let inet = inet_sockets(pids[0]);
    for (inode, port) in &inet {
        assert!(
            !held.contains(inode),
            "a container process holds a host socket (inode {inode}, port {port})"
        );
        assert_ne!(*port, 8000, "the host stack serves the container's port");
    }
}

#[test]
fn a_published_port_serves_curl_on_the_host_and_a_taken_one_fails_the_start() {
    require_root!();
    let root = debian().path();
    // A port free on the host's loopback a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let publish = format!("127.0.0.1:{port}:8000");
    let mut sandbox = Sandbox::start(root, &["-p", &publish], &HTTP_SERVER);
    sandbox.wait_for("Serving HTTP on 0.0.0.0 port 8000");
    curl_gets_the_rootfs_files(root, &format!("http://127.0.0.1:{port}"));
    // The port is the running container's: another cannot take it.
    let second = Command::new(oxbox_bin())
        .args(["do", "--network", "sandbox", "-p", &publish, "--rootfs"])
        .arg(root)
        .args(["--", "/bin/true"])
        .output()
        .expect("run oxbox");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot publish 127.0.0.1:{port}: port is already allocated"
        )),
        "{stderr}"
    );
}

/// Echoes four datagrams, each with the address it came from, then ends.
const UDP_PEER_ECHO: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9053))
print("ready", flush=True)
for _ in range(4):
    data, peer = s.recvfrom(100)
    s.sendto(data + b" from " + peer[0].encode() + b":" + str(peer[1]).encode(), peer)
print("answered 4", flush=True)
"#;

#[test]
fn a_published_udp_port_answers_each_host_client_through_its_own_flow() {
    require_root!();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let publish = format!("127.0.0.1:{port}:9053/udp");
    let mut sandbox = Sandbox::start(
        debian().path(),
        &["-p", &publish],
        &["python3", "-c", UDP_PEER_ECHO],
    );
    sandbox.wait_for("ready");
    // Only a guard against a hang: nothing here depends on how long.
    let guard = Some(std::time::Duration::from_secs(60));
    let clients: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| {
            let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("a host client");
            client.set_read_timeout(guard).expect("read timeout");
            client.connect(("127.0.0.1", port)).expect("connect");
            client
        })
        .collect();
    let mut peers = Vec::new();
    for round in 0..2 {
        for (i, client) in clients.iter().enumerate() {
            let message = format!("client {i} round {round}");
            client.send(message.as_bytes()).expect("send");
            let mut buf = [0u8; 200];
            let n = client
                .recv(&mut buf)
                .expect("the echo, from the published port");
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            let (echoed, peer) = answer.split_once(" from ").expect("an echo");
            assert_eq!(echoed, message);
            peers.push(peer.to_string());
        }
    }
    // The container sees the gateway, one port per client, kept between
    // rounds.
    assert!(
        peers[0].starts_with(&format!("{}:", sandbox.gateway)),
        "{peers:?}"
    );
    assert_eq!((&peers[0], &peers[1]), (&peers[2], &peers[3]), "{peers:?}");
    assert_ne!(peers[0], peers[1]);
    let (status, rest) = sandbox.wait();
    assert_eq!((status, rest.as_str()), (0, "answered 4\n"));
}

const FORK_SERVER: &str = r#"
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8001))
s.listen(4)
print("ready", flush=True)
pid = os.fork()
if pid == 0:
    c, peer = s.accept()
    c.sendall(b"hello from the child that accepted, peer " + peer[0].encode())
    c.close()
    os._exit(0)
s.close()
_, status = os.waitpid(pid, 0)
print("child exited", status, flush=True)
"#;

#[test]
fn a_forked_child_accepts_on_its_parents_listening_socket() {
    require_root!();
    let mut sandbox = Sandbox::start(debian().path(), &[], &["python3", "-c", FORK_SERVER]);
    sandbox.wait_for("ready");
    let mut stream =
        TcpStream::connect((sandbox.address.as_str(), 8001)).expect("connect to the container");
    let mut got = String::new();
    stream.read_to_string(&mut got).expect("read the answer");
    let local = stream.local_addr().expect("local address").ip().to_string();
    assert_eq!(
        got,
        format!("hello from the child that accepted, peer {local}")
    );
    assert_eq!(
        local, sandbox.gateway,
        "the host reaches it from the host end"
    );
    let (status, rest) = sandbox.wait();
    assert_eq!((status, rest.as_str()), (0, "child exited 0\n"));
}

/// A scratch directory on the host, removed when dropped.
struct HostDir(PathBuf);

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let dir = std::env::temp_dir().join(format!("oxbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        HostDir(dir)
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn busybox_wget_inside_fetches_from_a_server_on_the_host_end() {
    require_root!();
    let listener = TcpListener::bind("0.0.0.0:0").expect("a host server");
    let port = listener.local_addr().expect("its port").port();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("the container connects");
        let mut request = [0u8; 4096];
        let n = conn.read(&mut request).expect("its request");
        let body = format!("served to {}", peer.ip());
        let answer = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(answer.as_bytes()).expect("answer");
        (String::from_utf8_lossy(&request[..n]).into_owned(), peer)
    });
    let dir = HostDir::new("sandbox-wget");
    // On a directory the shared rootfs has: a missing mount point would
    // be made in it, and the engine tests build their image from it.
    let volume = format!("{}:/tmp", dir.0.display());
    let script =
        "while [ ! -s /tmp/addr ]; do sleep 0.1; done; wget -q -O - http://$(cat /tmp/addr)/page";
    let sandbox = Sandbox::start(rootfs().path(), &["-v", &volume], &["sh", "-c", script]);
    std::fs::write(
        dir.0.join("addr.tmp"),
        format!("{}:{port}", sandbox.gateway),
    )
    .expect("write the address");
    std::fs::rename(dir.0.join("addr.tmp"), dir.0.join("addr")).expect("publish it");
    let address = sandbox.address.clone();
    let (status, out) = sandbox.wait();
    let (request, peer) = server.join().expect("the host server");
    assert!(request.starts_with("GET /page HTTP/1."), "{request}");
    assert_eq!(peer.ip().to_string(), address, "the container's address");
    assert_eq!((status, out), (0, format!("served to {address}")));
}

/// Socket calls with bad input, over loopback: the same answers from the
/// sandbox stack as from Linux (the native run is in its own network
/// namespace with loopback up).
const BAD_INPUT: &str = r#"
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def err(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def raw(fn, *args):
    r = fn(*args)
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
s = socket.socket()
print("closed port", err(lambda: s.connect(("127.0.0.1", 1))))
s = socket.socket()
print("getpeername unconnected", err(lambda: s.getpeername()))
short = ctypes.create_string_buffer(b"\x02\x00\x1f\x40\x7f\x00\x00\x01" + b"\x00" * 8)
print("short sockaddr", raw(libc.connect, s.fileno(), short, 8))
print("bad pointer", raw(libc.connect, s.fileno(), ctypes.c_void_p(8), 16))
v6 = ctypes.create_string_buffer(b"\x0a\x00" + b"\x00" * 26)
print("wrong family", raw(libc.bind, s.fileno(), v6, 28))
s.setblocking(False)
print("non-blocking", err(lambda: s.connect(("127.0.0.1", 1))))
import select
select.select([], [s], [], 30)
print("SO_ERROR", errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0))
a = socket.socket(); a.bind(("127.0.0.1", 8002)); a.listen(1)
b = socket.socket()
print("port taken", err(lambda: b.bind(("127.0.0.1", 8002))))
print("not ours", err(lambda: b.bind(("192.0.2.1", 0))))
c = socket.socket(); c.connect(("127.0.0.1", 8002))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("nodelay", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
d, peer = a.accept()
print("names agree", d.getpeername() == c.getsockname(), c.getpeername() == ("127.0.0.1", 8002))
c.shutdown(socket.SHUT_WR)
print("peer eof", d.recv(10))
d.sendall(b"after shutdown")
print("still reads", c.recv(100))
print("connected again", err(lambda: c.connect(("127.0.0.1", 8002))))
"#;

/// Runs the python `script` natively (in a network namespace of its own
/// with loopback up) and in the sandbox: both succeed and print the same.
fn answers_as_natively(script: &str) {
    let native = Run::with_rootfs(debian().path(), ["python3", "-c", script]).native();
    assert_eq!(native.status, 0, "{}", native.describe());
    let sandbox = Sandbox::start(debian().path(), &[], &["python3", "-c", script]);
    let (status, out) = sandbox.wait();
    assert_eq!((status, out), (0, native.stdout()));
}

#[test]
fn socket_calls_with_bad_input_fail_as_on_linux() {
    require_root!();
    answers_as_natively(BAD_INPUT);
}

/// UDP over loopback: ports, names, connected and unconnected sends,
/// peeking, non-blocking receives and readiness give the same answers
/// from the sandbox stack as from Linux.
const UDP_LOOPBACK: &str = r#"
import select
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", 0))
port = a.getsockname()[1]
print("ephemeral", 32768 <= port <= 60999)
print("type", a.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("no destination", err(lambda: b.send(b"x")))
print("unconnected peer", err(lambda: b.getpeername()))
b.sendto(b"first", ("127.0.0.1", port))
bport = b.getsockname()[1]
print("bound on send", b.getsockname()[0], 32768 <= bport <= 60999)
print("readable", select.select([a], [], [], 30)[0] == [a])
print("peek", a.recv(100, socket.MSG_PEEK))
data, src = a.recvfrom(100)
print("recvfrom", data, src == ("127.0.0.1", bport))
print("empty", err(lambda: a.recv(100, socket.MSG_DONTWAIT)))
a.setblocking(False)
print("non-blocking", err(lambda: a.recvfrom(100)))
a.setblocking(True)
print("port taken", err(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", port))))
t = socket.socket(); t.bind(("127.0.0.1", port)); t.listen(1)
print("tcp shares no ports with udp", t.getsockname()[1] == port)
b.connect(("127.0.0.1", port))
print("peer", b.getpeername() == ("127.0.0.1", port))
b.send(b"connected")
b.sendmsg([b"two ", b"iovecs"])
print("recv", a.recv(100))
data, anc, flags, src = a.recvmsg(100)
print("recvmsg", data, anc, flags, src == ("127.0.0.1", bport))
a.sendto(b"tiny", ("127.0.0.1", bport))
print("truncated", b.recvmsg(2)[2] & socket.MSG_TRUNC != 0)
a.sendto(b"back", ("127.0.0.1", bport))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"stranger", ("127.0.0.1", bport))
a.sendto(b"again", ("127.0.0.1", bport))
print("connected receives from its peer only", b.recv(100), b.recv(100))
a.sendto(b"", ("127.0.0.1", bport))
data, src = b.recvfrom(100)
print("empty datagram", data, src == ("127.0.0.1", port))
"#;

/// What the UDP scripts begin with: `err(f)` is `f()` or the name of
/// the errno it failed with.
const UDP_PRELUDE: &str = r#"
import errno, socket
def err(f):
    try:
        return f()
    except OSError as e:
        return errno.errorcode[e.errno]
"#;

#[test]
fn udp_over_loopback_inside_answers_as_on_linux() {
    require_root!();
    answers_as_natively(&format!("{UDP_PRELUDE}{UDP_LOOPBACK}"));
}

/// A UDP socket as a plain descriptor: `read`, `write`, `readv`, `writev`
/// and `FIONREAD` on it; `connect(AF_UNSPEC)`; a `dup` of it; the socket kept through an exec and passed with
/// `SCM_RIGHTS`; and its number, once closed or replaced, a plain pipe.
const UDP_DESCRIPTORS: &str = r#"
import array, ctypes, fcntl, os, select, subprocess, sys, termios
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.connect(a.getsockname())
a.connect(b.getsockname())
lone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("unconnected write", err(lambda: os.write(lone.fileno(), b"x")))
os.write(b.fileno(), b"written")
print("read", os.read(a.fileno(), 100))
os.writev(b.fileno(), [b"two ", b"parts"])
bufs = [bytearray(4), bytearray(10)]
print("readv", os.readv(a.fileno(), bufs), bufs)
os.write(a.fileno(), b"back")
print("recvfrom", b.recvfrom(100)[0])
def pending(s):
    n = array.array("i", [-1])
    fcntl.ioctl(s.fileno(), termios.FIONREAD, n)
    return n[0]
print("nothing pending", pending(a))
os.write(b.fileno(), b"12345")
os.write(b.fileno(), b"1234567")
# Readable first: the sandbox stack delivers a datagram after the send
# returns, not during it.
def ready_then_pending(s):
    select.select([s], [], [], 30)
    return pending(s)
print("FIONREAD", ready_then_pending(a), a.recv(100), ready_then_pending(a), a.recv(100), pending(a))
os.write(b.fileno(), b"truncated datagram")
print("short read", os.read(a.fileno(), 5), err(lambda: a.recv(100, socket.MSG_DONTWAIT)))
d = os.dup(b.fileno())
os.write(d, b"through a dup")
print("dup", a.recv(100))
os.close(d)
child = "import os, sys; os.write(int(sys.argv[1]), b'from an exec')"
subprocess.run([sys.executable, "-c", child, str(b.fileno())], pass_fds=[b.fileno()], check=True)
print("exec", a.recv(100))
left, right = socket.socketpair()
socket.send_fds(left, [b"fd"], [b.fileno()])
_, fds, _, _ = socket.recv_fds(right, 10, 1)
os.write(fds[0], b"passed")
print("scm_rights", a.recv(100))
os.close(fds[0])
libc = ctypes.CDLL(None, use_errno=True)
def disconnect(s):
    return libc.connect(s.fileno(), bytes(16), 16), err(s.getpeername), s.getsockname()
inbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
inbox.bind(("127.0.0.1", 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(inbox.getsockname())
print("port on connect", u.getsockname()[1] != 0)
print("disconnect", disconnect(u), err(lambda: os.write(u.fileno(), b"x")))
u.sendto(b"again", inbox.getsockname())
print("rebound", u.getsockname()[1] != 0, inbox.recvfrom(100)[1] == u.getsockname())
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.bind(("127.0.0.1", 0))
v.connect(inbox.getsockname())
print("bound address stays", disconnect(v))
w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
w.bind(("0.0.0.0", 45678))
w.connect(inbox.getsockname())
print("bound port stays", disconnect(w))
n = b.fileno()
b.close()
p, q = os.pipe()
os.dup2(p, n)
os.write(q, b"plain bytes through a pipe")
print("reused number", os.read(n, 100))
"#;

#[test]
fn udp_sockets_read_and_write_as_descriptors_as_on_linux() {
    require_root!();
    answers_as_natively(&format!("{UDP_PRELUDE}{UDP_DESCRIPTORS}"));
}

const UDP_ECHO: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
data, peer = s.recvfrom(100)
s.sendto(b"echo " + data, peer)
port = int(data.split()[1])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"from inside", (peer[0], port))
print("answered", peer[0], flush=True)
"#;

#[test]
fn python_udp_echo_inside_answers_the_host_and_sends_to_it() {
    require_root!();
    let mut sandbox = Sandbox::start(debian().path(), &[], &["python3", "-u", "-c", UDP_ECHO]);
    sandbox.wait_for("ready");
    // Only a guard against a hang: nothing here depends on how long.
    let guard = Some(std::time::Duration::from_secs(60));
    let inbox = std::net::UdpSocket::bind("0.0.0.0:0").expect("a host socket for the container");
    inbox.set_read_timeout(guard).expect("read timeout");
    let port = inbox.local_addr().expect("its port").port();
    let client = std::net::UdpSocket::bind("0.0.0.0:0").expect("a host client");
    client.set_read_timeout(guard).expect("read timeout");
    let message = format!("hello {port}");
    client
        .send_to(message.as_bytes(), (sandbox.address.as_str(), 9000))
        .expect("send to the container");
    let mut buf = [0u8; 100];
    let (n, from) = client.recv_from(&mut buf).expect("the echo");
    assert_eq!(&buf[..n], format!("echo {message}").as_bytes());
    assert_eq!(from.to_string(), format!("{}:9000", sandbox.address));
    let (n, from) = inbox
        .recv_from(&mut buf)
        .expect("the container's own datagram");
    assert_eq!(&buf[..n], b"from inside");
    assert_eq!(from.ip().to_string(), sandbox.address);
    let gateway = sandbox.gateway.clone();
    let (status, rest) = sandbox.wait();
    assert_eq!((status, rest), (0, format!("answered {gateway}\n")));
}
