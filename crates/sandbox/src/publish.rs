//! `-p`: host ports that lead to ports of a container on its own stack
//! (`--network sandbox`), as Docker's `-p` with its userland proxy.
//!
//! The runtime binds every host port before the container starts (a port
//! that is taken fails the start, nothing half-made is left), and once the
//! container has its address relays each connection to it over the veth:
//! one thread per port accepts, two per connection copy the bytes each way
//! and pass each end of file on as a half-close. The container sees the
//! connection come from its gateway (the host end of the veth), as behind
//! docker-proxy. TCP only so far.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};

use crate::error::{Error, Result};

/// One `-p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// Where the host listens (port 0: a free port the kernel picks).
    pub host: SocketAddrV4,
    /// The container's port the connections go to.
    pub container_port: u16,
}

/// Parses Docker's `-p` syntax: `PORT`, `HOST_PORT:PORT`,
/// `IP:HOST_PORT:PORT` or `IP::PORT`, with an optional `/tcp`; the host
/// address defaults to every IPv4 address and the host port to a free one.
pub fn parse_port_mapping(text: &str) -> Result<PortMapping> {
    let invalid = |what: &str, value: &str| {
        Error::Config(format!("invalid {what}: {value:?} in -p {text:?}"))
    };
    let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    match protocol {
        "tcp" => {}
        "udp" | "sctp" => {
            return Err(Error::Config(format!(
                "-p {text}: publishing {protocol} ports is not supported yet (TCP only)"
            )));
        }
        _ => return Err(invalid("protocol", protocol)),
    }
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
    })
}

/// The bound host ports of a container that is starting.
#[derive(Debug)]
pub struct Publisher {
    listeners: Vec<(TcpListener, u16)>,
}

impl Publisher {
    /// Binds every host port of `mappings` now.
    pub fn bind(mappings: &[PortMapping]) -> Result<Publisher> {
        let listeners = mappings
            .iter()
            .map(|m| {
                let listener = TcpListener::bind(m.host).map_err(|e| {
                    let why = if e.kind() == io::ErrorKind::AddrInUse {
                        "port is already allocated".to_string()
                    } else {
                        e.to_string()
                    };
                    Error::Config(format!("cannot publish {}: {why}", m.host))
                })?;
                Ok((listener, m.container_port))
            })
            .collect::<Result<_>>()?;
        Ok(Publisher { listeners })
    }

    /// Relays every connection to the container at `container` from now
    /// on, for as long as the runtime runs.
    pub fn start(self, container: Ipv4Addr) {
        for (listener, port) in self.listeners {
            let target = SocketAddrV4::new(container, port);
            match listener.local_addr() {
                Ok(host) => tracing::info!("published port: {host} -> {target}"),
                Err(e) => tracing::warn!(%e, "a published port has no address"),
            }
            std::thread::spawn(move || accept_forever(&listener, target));
        }
    }
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
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        let error = |t| parse_port_mapping(t).unwrap_err().to_string();
        assert!(error("abc").contains("invalid container port"));
        assert!(error("0").contains("invalid container port"));
        assert!(error("70000:80").contains("invalid host port"));
        assert!(error("x:1:80").contains("invalid IPv4 address"));
        assert!(error("1:2:3:4").contains("invalid port mapping"));
        assert!(error("80/udp").contains("not supported yet"));
        assert!(error("80/xyz").contains("invalid protocol"));
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
        let host_port = publisher.listeners[0].0.local_addr().unwrap().port();
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
