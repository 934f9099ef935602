//! `endpoint` of the `remote` driver: a usable `tcp://host:port` or `unix://path`, checked
//! before anything dials it (the engine connects to exactly these two forms).

use super::redact::excerpt;

const VALID: &str =
    "expected tcp://host:port (e.g. tcp://buildkitd:1234) or unix:///path/to/buildkitd.sock";

/// Why `endpoint` cannot be used, in one line that says what would be valid.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let bad = |why: &str| format!("invalid endpoint {}: {why} ({VALID})", excerpt(endpoint));
    if let Some(path) = endpoint.strip_prefix("unix://") {
        return if path.is_empty() {
            Err(bad("no socket path"))
        } else {
            Ok(())
        };
    }
    let Some(addr) = endpoint.strip_prefix("tcp://") else {
        return Err(bad("unsupported scheme"));
    };
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(bad("no port"));
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        }
    };
    if !host_ok {
        return Err(bad("no usable host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("the port is not a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_dialable() {
        for ok in [
            "tcp://buildkitd:1234",
            "tcp://127.0.0.1:1234/",
            "tcp://[::1]:1234",
            "unix:///run/buildkit/buildkitd.sock",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("tcp://", "no port"),
            ("tcp://host", "no port"),
            ("tcp://:1234", "no usable host"),
            ("tcp://host:0", "port"),
            ("tcp://host:http", "port"),
            ("tcp://a b:1", "no usable host"),
            ("unix://", "no socket path"),
            ("http://x:1234", "unsupported scheme"),
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(
                e.contains(why) && e.contains("tcp://host:port"),
                "{bad}: {e}"
            );
        }
    }
}
