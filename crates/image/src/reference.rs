//! Image references (`busybox`, `ghcr.io/org/app:1.2`, `app@sha256:...`),
//! normalized the way Docker does: a name without a registry is on
//! `docker.io`, a one-component name there is under `library/`, and a
//! reference without tag or digest means `:latest`.

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";
/// Longest tag the distribution spec allows.
const MAX_TAG_LEN: usize = 128;

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/busybox`).
    pub repository: String,
    /// The tag, if the reference has one (always, unless it has a digest).
    pub tag: Option<String>,
    /// The manifest digest, if the reference pins one.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes `text`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason| Error::BadReference {
            reference: text.to_owned(),
            reason,
        };
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest.parse::<Digest>()?)),
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad("a tag is 1 to 128 letters, digits, '_', '.' or '-'"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first, rest)
            }
            _ => (DOCKER_HUB, name),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if registry.is_empty() || registry.contains(['/', '@']) {
            return Err(bad("invalid registry name"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(bad(
                "a repository name is lowercase letters, digits and single separators ('.', '_', '__', '-') between '/'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker prints: without `docker.io/` and `library/`.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        full.strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"))
            .map_or(full.clone(), str::to_owned)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= MAX_TAG_LEN
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+` runs joined by one of `.`, `_`, `__`, or any number of `-`.
fn valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            if !matches!(separator.as_str(), "" | "." | "_" | "__")
                && !separator.bytes().all(|s| s == b'-')
            {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(text: &str) -> String {
        Reference::parse(text).unwrap().to_string()
    }

    #[test]
    fn short_names_are_normalized_like_docker() {
        assert_eq!(normalized("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalized("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(normalized("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            normalized("index.docker.io/library/debian:12"),
            "docker.io/library/debian:12"
        );
        assert_eq!(normalized("localhost/app"), "localhost/app:latest");
        assert_eq!(normalized("localhost:5000/a/b:v1"), "localhost:5000/a/b:v1");
        assert_eq!(normalized("ghcr.io/org/app"), "ghcr.io/org/app:latest");
    }

    #[test]
    fn digest_references_have_no_default_tag() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{digest}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.unwrap().as_str(), digest);
    }

    #[test]
    fn familiar_names_drop_the_docker_hub_prefixes() {
        let familiar = |t| Reference::parse(t).unwrap().familiar();
        assert_eq!(familiar("busybox"), "busybox:latest");
        assert_eq!(familiar("user/app:1"), "user/app:1");
        assert_eq!(familiar("localhost:5000/app"), "localhost:5000/app:latest");
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "-a",
            "a--",
            "a...b",
            "busybox@sha256:1234",
            "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
