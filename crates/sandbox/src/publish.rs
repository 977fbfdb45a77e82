//! `-p`: host ports that lead to ports of a container on its own stack
//! (`--network sandbox`), as Docker's `-p` with its userland proxy.
//!
//! The runtime binds every host port before the container starts (a port
//! that is taken fails the start, nothing half-made is left), and once the
//! container has its address relays each connection to it over the veth:
//! one thread per port accepts, two per connection copy the bytes each way
//! and pass each end of file on as a half-close. A UDP port keeps a flow
//! per client, as docker-proxy does: a socket of its own towards the
//! container, whose answers go back to that client, closed after
//! [`UDP_FLOW_IDLE`] without one. The container sees the traffic come from
//! its gateway (the host end of the veth), as behind docker-proxy.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a UDP flow lives without an answer from the container
/// (docker-proxy's `UDPConnTrackTimeout`).
pub const UDP_FLOW_IDLE: Duration = Duration::from_secs(90);

/// One `-p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// Where the host listens (port 0: a free port the kernel picks).
    pub host: SocketAddrV4,
    /// The container's port the traffic goes to.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

/// The transport of a [`PortMapping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Connections, relayed one by one.
    Tcp,
    /// Datagrams, relayed per client.
    Udp,
}

/// Parses Docker's `-p` syntax: `PORT`, `HOST_PORT:PORT`,
/// `IP:HOST_PORT:PORT` or `IP::PORT`, with an optional `/tcp` or `/udp`;
/// the host address defaults to every IPv4 address and the host port to a
/// free one.
pub fn parse_port_mapping(text: &str) -> Result<PortMapping> {
    let invalid = |what: &str, value: &str| {
        Error::Config(format!("invalid {what}: {value:?} in -p {text:?}"))
    };
    let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => {
            return Err(Error::Config(format!(
                "-p {text}: publishing sctp ports is not supported (TCP and UDP only)"
            )));
        }
        _ => return Err(invalid("protocol", protocol)),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host_port, container_port) = match parts[..] {
        [port] => ("", "", port),
        [host_port, port] => ("", host_port, port),
        [ip, host_port, port] => (ip, host_port, port),
        _ => return Err(invalid("port mapping", ports)),
    };
    let container_port = match container_port.parse::<u16>() {
        Ok(port) if port != 0 => port,
        _ => return Err(invalid("container port", container_port)),
    };
    let host_port = match host_port {
        "" => 0,
        text => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(invalid("host port", text)),
        },
    };
    let ip = match ip {
        "" => Ipv4Addr::UNSPECIFIED,
        text => text
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid("IPv4 address", text))?,
    };
    Ok(PortMapping {
        host: SocketAddrV4::new(ip, host_port),
        container_port,
        protocol,
    })
}

/// A bound host port.
#[derive(Debug)]
enum HostPort {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl HostPort {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr(),
            Self::Udp(socket) => socket.local_addr(),
        }
    }
}

/// The bound host ports of a container that is starting.
#[derive(Debug)]
pub struct Publisher {
    ports: Vec<(HostPort, u16)>,
}

impl Publisher {
    /// Binds every host port of `mappings` now.
    pub fn bind(mappings: &[PortMapping]) -> Result<Publisher> {
        let ports = mappings
            .iter()
            .map(|m| {
                let bound = match m.protocol {
                    Protocol::Tcp => TcpListener::bind(m.host).map(HostPort::Tcp),
                    Protocol::Udp => UdpSocket::bind(m.host).map(HostPort::Udp),
                };
                let port = bound.map_err(|e| {
                    let why = if e.kind() == io::ErrorKind::AddrInUse {
                        "port is already allocated".to_string()
                    } else {
                        e.to_string()
                    };
                    Error::Config(format!("cannot publish {}: {why}", m.host))
                })?;
                Ok((port, m.container_port))
            })
            .collect::<Result<_>>()?;
        Ok(Publisher { ports })
    }

    /// Relays all traffic to the container at `container` from now on, for
    /// as long as the runtime runs.
    pub fn start(self, container: Ipv4Addr) {
        for (port, container_port) in self.ports {
            let target = SocketAddrV4::new(container, container_port);
            match port.local_addr() {
                Ok(host) => tracing::info!("published port: {host} -> {target}"),
                Err(e) => tracing::warn!(%e, "a published port has no address"),
            }
            std::thread::spawn(move || match port {
                HostPort::Tcp(listener) => accept_forever(&listener, target),
                HostPort::Udp(socket) => relay_datagrams(socket, target),
            });
        }
    }
}

/// The UDP flows of one published port, by client.
type Flows = Arc<Mutex<HashMap<SocketAddr, UdpSocket>>>;

/// Sends each client's datagrams to the container through the client's
/// flow, opening one for a new client.
fn relay_datagrams(host: UdpSocket, target: SocketAddrV4) {
    let host = Arc::new(host);
    let flows = Flows::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = match host.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!(%e, "receive on a published UDP port");
                continue;
            }
        };
        let upstream = {
            let mut table = flows.lock().unwrap_or_else(|e| e.into_inner());
            let flow = match table.entry(client) {
                Entry::Occupied(flow) => flow.into_mut(),
                Entry::Vacant(slot) => match open_flow(target, client, &host, &flows) {
                    Ok(upstream) => slot.insert(upstream),
                    Err(e) => {
                        tracing::debug!(%e, %client, "no UDP flow to the container");
                        continue;
                    }
                },
            };
            flow.try_clone()
        };
        if let Ok(upstream) = upstream {
            let _ = upstream.send(&buf[..n]);
        }
    }
}

/// A socket towards the container for `client`, with a thread that sends
/// the container's answers back to the client from the published port
/// and drops the flow once it has been idle for [`UDP_FLOW_IDLE`].
fn open_flow(
    target: SocketAddrV4,
    client: SocketAddr,
    host: &Arc<UdpSocket>,
    flows: &Flows,
) -> io::Result<UdpSocket> {
    let upstream = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    upstream.connect(target)?;
    upstream.set_read_timeout(Some(UDP_FLOW_IDLE))?;
    let answers = upstream.try_clone()?;
    let (host, flows) = (Arc::clone(host), Arc::clone(flows));
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            match answers.recv(&mut buf) {
                Ok(n) => {
                    let _ = host.send_to(&buf[..n], client);
                }
                // Nobody listens on the container's port (yet): an ICMP
                // error, not the end of the flow.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(_) => break,
            }
        }
        flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client);
    });
    Ok(upstream)
}

fn accept_forever(listener: &TcpListener, target: SocketAddrV4) {
    for client in listener.incoming() {
        match client {
            Ok(client) => {
                std::thread::spawn(move || relay(client, target));
            }
            Err(e) => tracing::debug!(%e, "accept on a published port"),
        }
    }
}

/// One connection: the client's bytes to the container and back, until
/// both sides have ended. A container that refuses it closes the client.
fn relay(client: TcpStream, target: SocketAddrV4) {
    let server = match TcpStream::connect(target) {
        Ok(server) => server,
        Err(e) => {
            tracing::debug!(%e, %target, "the container refused a published connection");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || copy_then_half_close(client_reader, server_writer));
    copy_then_half_close(server, client);
    let _ = upstream.join();
}

fn copy_then_half_close(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(ip: [u8; 4], host_port: u16, container_port: u16) -> PortMapping {
        PortMapping {
            host: SocketAddrV4::new(Ipv4Addr::from(ip), host_port),
            container_port,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn dockers_forms_parse() {
        let parse = |t| parse_port_mapping(t).unwrap();
        assert_eq!(parse("80"), mapping([0; 4], 0, 80));
        assert_eq!(parse("8080:80"), mapping([0; 4], 8080, 80));
        assert_eq!(parse("8080:80/tcp"), mapping([0; 4], 8080, 80));
        assert_eq!(
            parse("127.0.0.1:8080:80"),
            mapping([127, 0, 0, 1], 8080, 80)
        );
        assert_eq!(parse("127.0.0.1::80"), mapping([127, 0, 0, 1], 0, 80));
        assert_eq!(
            parse("5353:53/udp"),
            PortMapping {
                protocol: Protocol::Udp,
                ..mapping([0; 4], 5353, 53)
            }
        );
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        let error = |t| parse_port_mapping(t).unwrap_err().to_string();
        assert!(error("abc").contains("invalid container port"));
        assert!(error("0").contains("invalid container port"));
        assert!(error("70000:80").contains("invalid host port"));
        assert!(error("x:1:80").contains("invalid IPv4 address"));
        assert!(error("1:2:3:4").contains("invalid port mapping"));
        assert!(error("80/sctp").contains("not supported"));
        assert!(error("80/xyz").contains("invalid protocol"));
    }

    #[test]
    fn datagrams_are_relayed_per_client_and_answered_to_each() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target_port = server.local_addr().unwrap().port();
        let publisher = Publisher::bind(&[PortMapping {
            protocol: Protocol::Udp,
            ..mapping([127, 0, 0, 1], 0, target_port)
        }])
        .unwrap();
        let host_port = publisher.ports[0].0.local_addr().unwrap().port();
        publisher.start(Ipv4Addr::LOCALHOST);
        // Echoes each datagram with the flow it came from.
        std::thread::spawn(move || {
            let mut buf = [0u8; 100];
            while let Ok((n, flow)) = server.recv_from(&mut buf) {
                let answer = [&buf[..n], format!(" via {}", flow.port()).as_bytes()].concat();
                server.send_to(&answer, flow).unwrap();
            }
        });
        let guard = Some(Duration::from_secs(30));
        let clients: Vec<UdpSocket> = (0..2)
            .map(|_| {
                let client = UdpSocket::bind("127.0.0.1:0").unwrap();
                client.set_read_timeout(guard).unwrap();
                client.connect(("127.0.0.1", host_port)).unwrap();
                client
            })
            .collect();
        let mut flows = Vec::new();
        for round in 0..2 {
            for (i, client) in clients.iter().enumerate() {
                client.send(format!("{i}.{round}").as_bytes()).unwrap();
                let mut buf = [0u8; 100];
                let n = client.recv(&mut buf).unwrap();
                let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (text, flow) = answer.split_once(" via ").unwrap();
                assert_eq!(text, format!("{i}.{round}"));
                flows.push((i, flow.to_string()));
            }
        }
        // Each client keeps its flow; the two flows differ.
        assert_eq!(flows[0].1, flows[2].1);
        assert_eq!(flows[1].1, flows[3].1);
        assert_ne!(flows[0].1, flows[1].1);
    }

    #[test]
    fn a_taken_port_fails_to_bind() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let error = Publisher::bind(&[mapping([127, 0, 0, 1], port, 80)]).unwrap_err();
        assert!(
            error.to_string().contains("port is already allocated"),
            "{error}"
        );
    }

    #[test]
    fn connections_are_relayed_both_ways_with_half_closes() {
        use std::io::{Read, Write};
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target_port = server.local_addr().unwrap().port();
        let publisher = Publisher::bind(&[mapping([127, 0, 0, 1], 0, target_port)]).unwrap();
        let host_port = publisher.ports[0].0.local_addr().unwrap().port();
        publisher.start(Ipv4Addr::LOCALHOST);
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(&got).unwrap();
        });
        let mut client = TcpStream::connect(("127.0.0.1", host_port)).unwrap();
        client.write_all(b"through the relay").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"through the relay");
        echo.join().unwrap();
    }
}
