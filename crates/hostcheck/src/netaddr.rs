//! Internal or external (`spec/inspection-checks.md`, "rules/network.toml"):
//! whether a host name or address seen in a browser history, a resolver
//! setting or a route points outside the unit. Built-in local ranges and
//! names are never external; the unit's `network.toml` adds its own. No name
//! is ever resolved and no packet is sent.

use ipnet::IpNet;
use mijian_policy::NetworkRules;
use std::net::IpAddr;

/// Built-in networks that are never external.
const NEVER_EXTERNAL: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "0.0.0.0/32",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "::/128",
];

/// Decides internal/external for one policy.
#[derive(Debug, Clone)]
pub struct Classifier {
    domains: Vec<String>,
    cidrs: Vec<IpNet>,
    builtin: Vec<IpNet>,
}

impl Classifier {
    pub fn new(rules: &NetworkRules) -> Classifier {
        Classifier {
            domains: rules.internal_domains.clone(),
            cidrs: rules.internal_cidrs.clone(),
            builtin: NEVER_EXTERNAL
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        }
    }

    /// Whether an address is external: not built-in local, not in a listed
    /// CIDR. IPv4-mapped IPv6 addresses are judged as IPv4.
    pub fn address_is_external(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        !self
            .builtin
            .iter()
            .chain(self.cidrs.iter())
            .any(|n| n.contains(&ip))
    }

    /// Whether a URL host or configured name is external. `host` may carry
    /// IPv6 brackets or a trailing dot.
    pub fn host_is_external(&self, host: &str) -> bool {
        let h = normal_host(host);
        if h.is_empty() {
            return false;
        }
        if let Ok(ip) = h.parse::<IpAddr>() {
            return self.address_is_external(ip);
        }
        // Single-label names resolve only through search domains or hosts
        // files: never external.
        if !h.contains('.') {
            return false;
        }
        for local in ["localhost", "local", "home.arpa", "internal"] {
            if h == local || h.ends_with(&format!(".{local}")) {
                return false;
            }
        }
        !self
            .domains
            .iter()
            .any(|d| h == *d || h.ends_with(&format!(".{d}")))
    }
}

/// Lowercased, trailing dot and IPv6 brackets removed.
pub fn normal_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    h.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> Classifier {
        Classifier::new(&NetworkRules {
            internal_domains: vec!["corp.example".into()],
            internal_cidrs: vec![
                "59.255.0.0/16".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
        })
    }

    #[test]
    fn names_follow_the_spec() {
        let c = c();
        for internal in [
            "corp.example",
            "OA.Corp.Example.",
            "localhost",
            "app.localhost",
            "printer.local",
            "nas.home.arpa",
            "git.internal",
            "oa",
            "10.1.2.3",
            "[::1]",
            "[fe80::1]",
            "fd12::1",
            "59.255.3.4",
            "[2001:db8::5]",
            "0.0.0.0",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.1.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!c.host_is_external(internal), "{internal}");
        }
        for external in [
            "xcorp.example",
            "www.baidu.com",
            "corp.example.evil.cn",
            "100.64.0.1",
            "172.32.0.1",
            "8.8.8.8",
            "[2400:3200::1]",
            "localhost.evil.com",
        ] {
            assert!(c.host_is_external(external), "{external}");
        }
    }
}
