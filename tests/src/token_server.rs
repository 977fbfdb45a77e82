//! The token server of a registry with token authentication, as Docker
//! Hub's `auth.docker.io` is to its registry: a client asks the registry,
//! is told `401` with `WWW-Authenticate: Bearer realm=...,service=...,
//! scope=...`, fetches a token from the realm with its credentials, and
//! retries with `Authorization: Bearer TOKEN`.
//!
//! The tokens are the JSON Web Tokens the distribution registry verifies
//! itself: RS256, signed by `openssl dgst` with a key whose self-signed
//! certificate is the registry's `rootcertbundle` and travels in the
//! token's `x5c` header. A client with the right basic credentials gets the
//! actions its scope asks for; anyone else gets a token that grants
//! nothing (so the registry refuses the pull), or a 401 for wrong
//! credentials.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::images::tool;

/// The `service` (the tokens' audience) the registry is configured with.
pub const SERVICE: &str = "oxbox-registry";

/// The tokens' issuer the registry trusts.
pub const ISSUER: &str = "oxbox-tests";

/// A token server on a free loopback port; its accepting thread lives as
/// long as the test process.
#[derive(Debug)]
pub struct TokenServer {
    realm: String,
    certificate: PathBuf,
}

impl TokenServer {
    /// Starts a server granting `user` with `password` what it asks for;
    /// its key and certificate are made in `dir`.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        let key = dir.join("token-key.pem");
        let certificate = dir.join("token-cert.pem");
        tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=oxbox-tests token issuer",
                "-keyout",
                &key.display().to_string(),
                "-out",
                &certificate.display().to_string(),
            ],
        );
        let der = tool(
            "openssl",
            &[
                "x509",
                "-in",
                &certificate.display().to_string(),
                "-outform",
                "DER",
            ],
        )
        .stdout;
        let header = format!(
            r#"{{"typ":"JWT","alg":"RS256","x5c":["{}"]}}"#,
            base64(&der, STANDARD)
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let issuer = Issuer {
            header,
            key,
            basic: format!(
                "Basic {}",
                base64(format!("{user}:{password}").as_bytes(), STANDARD)
            ),
            subject: user.to_owned(),
        };
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                issuer.answer(client);
            }
        });
        TokenServer { realm, certificate }
    }

    /// Where clients get tokens: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The certificate the registry checks tokens with.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }
}

struct Issuer {
    /// The JWT header, with the certificate.
    header: String,
    key: PathBuf,
    /// The `Authorization` value of the right credentials.
    basic: String,
    subject: String,
}

impl Issuer {
    /// Answers one `GET /token?service=...&scope=...` and closes.
    fn answer(&self, client: TcpStream) {
        let mut reader = BufReader::new(&client);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut authorization = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim_end().is_empty() => break,
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_owned());
                    }
                }
            }
        }
        let query = request_line
            .split_whitespace()
            .nth(1)
            .and_then(|target| target.split_once('?'))
            .map_or("", |(_, query)| query);
        let (status, body) = match authorization {
            Some(given) if given != self.basic => (
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_owned(),
            ),
            given => {
                let granted = if given.is_some() {
                    query_values(query, "scope")
                } else {
                    Vec::new()
                };
                let token = self.token(&granted);
                (
                    "200 OK",
                    format!(r#"{{"token":"{token}","expires_in":300}}"#),
                )
            }
        };
        let _ = write!(
            &client,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A signed token granting the `scopes` (`repository:NAME:pull,push`).
    fn token(&self, scopes: &[String]) -> String {
        static JTI: AtomicU64 = AtomicU64::new(0);
        let access: Vec<String> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                let actions: Vec<String> = actions.split(',').map(|a| format!("\"{a}\"")).collect();
                Some(format!(
                    r#"{{"type":"{kind}","name":"{name}","actions":[{}]}}"#,
                    actions.join(",")
                ))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = format!(
            r#"{{"iss":"{ISSUER}","sub":"{}","aud":"{SERVICE}","exp":{},"nbf":{},"iat":{},"jti":"{}","access":[{}]}}"#,
            self.subject,
            now + 300,
            now - 60,
            now - 60,
            JTI.fetch_add(1, Ordering::Relaxed),
            access.join(",")
        );
        let signed = format!(
            "{}.{}",
            base64(self.header.as_bytes(), URL),
            base64(claims.as_bytes(), URL)
        );
        let input = self
            .key
            .with_extension(format!("input-{}", JTI.fetch_add(1, Ordering::Relaxed)));
        fs::write(&input, &signed).unwrap();
        let signature = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .arg(&input)
            .output()
            .expect("openssl signs the token");
        let _ = fs::remove_file(&input);
        assert!(signature.status.success(), "{signature:?}");
        format!("{signed}.{}", base64(&signature.stdout, URL))
    }
}

/// Every value of `name` in a query string, percent-decoded.
fn query_values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The standard base64 alphabet, padded (certificates, basic auth).
const STANDARD: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    true,
);

/// The URL-safe alphabet, unpadded (JSON Web Tokens).
const URL: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    false,
);

fn base64(bytes: &[u8], (alphabet, pad): (&[u8; 64], bool)) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, padded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes(), STANDARD), padded);
            assert_eq!(base64(input.as_bytes(), URL), padded.trim_end_matches('='));
        }
        assert_eq!(base64(&[0xfb, 0xff], URL), "-_8");
    }

    #[test]
    fn scopes_are_read_from_the_query() {
        assert_eq!(
            query_values(
                "account=oxbox&scope=repository%3Aprivate%3Apull%2Cpush&service=x&scope=a+b",
                "scope"
            ),
            ["repository:private:pull,push", "a b"]
        );
    }
}
