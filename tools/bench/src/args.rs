//! Command-line value parsing: durations and loopback-only targets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// `500ms`, `5s`, `2m` or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 500ms, 5s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {raw:?} (ms, s, m)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{raw:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A server on this machine: the socket to connect to and the `Host` to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loopback {
    pub addr: SocketAddr,
    pub authority: String,
}

impl Loopback {
    /// `http://host:port[/]` or `host:port`. Anything but a loopback host is refused: this tool
    /// generates load and must never be pointed at someone else's server.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = match raw.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => return Err(format!("only http:// targets, not {scheme}://")),
            None => raw,
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.contains('@') {
            return Err(format!("{raw:?}: give only scheme, host and port"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("{raw:?}: bad port {port:?}"))?;
                (host, port)
            }
            _ => (authority, 80),
        };
        let host_ip = host.trim_start_matches('[').trim_end_matches(']');
        let ip = if host_ip.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host_ip
                .parse::<IpAddr>()
                .map_err(|_| format!("{raw:?}: the host must be a loopback IP or localhost"))?
        };
        if !ip.is_loopback() {
            return Err(format!(
                "{raw:?} is not a loopback address: only 127.0.0.0/8, ::1 and localhost are allowed"
            ));
        }
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            authority: authority.to_owned(),
        })
    }

    pub fn http_uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_default_to_seconds() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn loopback_targets_are_accepted_in_every_spelling() {
        let t = Loopback::parse("http://127.0.0.1:8080").expect("loopback");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(
            Loopback::parse("localhost:8001").expect("localhost").addr,
            "127.0.0.1:8001".parse().expect("addr")
        );
        assert_eq!(
            Loopback::parse("http://[::1]:50052/").expect("v6").addr,
            "[::1]:50052".parse().expect("addr")
        );
        assert_eq!(
            Loopback::parse("127.0.0.2").expect("no port").addr.port(),
            80
        );
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "https://127.0.0.1:8443",
            "192.168.1.2:80",
            "http://127.0.0.1:8080/v1/leads",
            "http://user@127.0.0.1:80",
            "http://127.0.0.1:port",
            "http://0.0.0.0:8080",
        ] {
            assert!(Loopback::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
