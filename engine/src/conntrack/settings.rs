//! Conntrack settings, named after the kernel's sysctls (`net.netfilter.nf_conntrack_*`).
//!
//! Every timeout is in seconds, with the default of Linux 6.x. [`Settings::set`]
//! accepts the same spellings the kernel-oracle does: the full dotted name
//! (`net.netfilter.nf_conntrack_tcp_loose`), `nf_conntrack_tcp_loose`, or the short
//! `tcp_loose`.

use core::fmt;

/// Timeouts and switches of the connection tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Settings {
    /// `nf_conntrack_max`: entries the table holds before early drop (0 = unlimited).
    pub max: u32,
    /// `nf_conntrack_buckets`: hash buckets; early drop scans 8 consecutive ones.
    pub buckets: u32,
    /// `nf_conntrack_checksum`: verify transport checksums of incoming packets.
    pub checksum: bool,
    /// `nf_conntrack_tcp_loose`: pick up connections from a mid-stream ACK.
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal`: never mark out-of-window packets INVALID.
    pub tcp_be_liberal: bool,
    /// `nf_conntrack_tcp_ignore_invalid_rst`: accept RSTs below the peer's max ack.
    pub tcp_ignore_invalid_rst: bool,
    /// `nf_conntrack_tcp_max_retrans`: retransmissions before the retrans timeout applies.
    pub tcp_max_retrans: u32,
    pub tcp_timeout_syn_sent: u32,
    pub tcp_timeout_syn_recv: u32,
    pub tcp_timeout_established: u32,
    pub tcp_timeout_fin_wait: u32,
    pub tcp_timeout_close_wait: u32,
    pub tcp_timeout_last_ack: u32,
    pub tcp_timeout_time_wait: u32,
    pub tcp_timeout_close: u32,
    pub tcp_timeout_max_retrans: u32,
    pub tcp_timeout_unacknowledged: u32,
    pub udp_timeout: u32,
    pub udp_timeout_stream: u32,
    pub icmp_timeout: u32,
    pub generic_timeout: u32,
    pub gre_timeout: u32,
    pub gre_timeout_stream: u32,
    /// SCTP, one timeout per association state (`nf_conntrack_sctp_timeout_*`).
    pub sctp_timeout_closed: u32,
    pub sctp_timeout_cookie_wait: u32,
    pub sctp_timeout_cookie_echoed: u32,
    pub sctp_timeout_established: u32,
    pub sctp_timeout_shutdown_sent: u32,
    pub sctp_timeout_shutdown_recd: u32,
    pub sctp_timeout_shutdown_ack_sent: u32,
    pub sctp_timeout_heartbeat_sent: u32,
    /// `nf_conntrack_acct`: entries created while on count packets and bytes per
    /// direction.
    pub acct: bool,
    /// `nf_conntrack_timestamp`: entries created while on record when they started.
    #[cfg_attr(feature = "serde", serde(default))]
    pub timestamp: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max: 4096,
            buckets: 4096,
            checksum: true,
            tcp_loose: true,
            tcp_be_liberal: false,
            tcp_ignore_invalid_rst: false,
            tcp_max_retrans: 3,
            tcp_timeout_syn_sent: 120,
            tcp_timeout_syn_recv: 60,
            tcp_timeout_established: 432_000,
            tcp_timeout_fin_wait: 120,
            tcp_timeout_close_wait: 60,
            tcp_timeout_last_ack: 30,
            tcp_timeout_time_wait: 120,
            tcp_timeout_close: 10,
            tcp_timeout_max_retrans: 300,
            tcp_timeout_unacknowledged: 300,
            udp_timeout: 30,
            udp_timeout_stream: 120,
            icmp_timeout: 30,
            generic_timeout: 600,
            gre_timeout: 30,
            gre_timeout_stream: 180,
            sctp_timeout_closed: 10,
            sctp_timeout_cookie_wait: 3,
            sctp_timeout_cookie_echoed: 3,
            sctp_timeout_established: 210,
            sctp_timeout_shutdown_sent: 3,
            sctp_timeout_shutdown_recd: 3,
            sctp_timeout_shutdown_ack_sent: 3,
            sctp_timeout_heartbeat_sent: 30,
            acct: false,
            timestamp: false,
        }
    }
}

/// A setting that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    Unknown(String),
    BadValue { name: String, value: String },
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::Unknown(n) => write!(f, "unknown conntrack setting {n:?}"),
            SettingError::BadValue { name, value } => write!(f, "bad value {value:?} for {name}"),
        }
    }
}

impl std::error::Error for SettingError {}

impl Settings {
    /// The short name of a sysctl key (`tcp_loose` for `net.netfilter.nf_conntrack_tcp_loose`).
    pub fn short_name(key: &str) -> &str {
        let k = key.strip_prefix("net.netfilter.").unwrap_or(key);
        k.strip_prefix("nf_conntrack_").unwrap_or(k)
    }

    /// Whether `key` names a setting the engine knows (in any accepted spelling).
    pub fn knows(key: &str) -> bool {
        Settings::default()
            .field(Settings::short_name(key))
            .is_some()
    }

    fn field(&mut self, short: &str) -> Option<Field<'_>> {
        use Field::{Flag, Num};
        Some(match short {
            "max" => Num(&mut self.max),
            "buckets" => Num(&mut self.buckets),
            "checksum" => Flag(&mut self.checksum),
            "tcp_loose" => Flag(&mut self.tcp_loose),
            "tcp_be_liberal" => Flag(&mut self.tcp_be_liberal),
            "tcp_ignore_invalid_rst" => Flag(&mut self.tcp_ignore_invalid_rst),
            "tcp_max_retrans" => Num(&mut self.tcp_max_retrans),
            "tcp_timeout_syn_sent" => Num(&mut self.tcp_timeout_syn_sent),
            "tcp_timeout_syn_recv" => Num(&mut self.tcp_timeout_syn_recv),
            "tcp_timeout_established" => Num(&mut self.tcp_timeout_established),
            "tcp_timeout_fin_wait" => Num(&mut self.tcp_timeout_fin_wait),
            "tcp_timeout_close_wait" => Num(&mut self.tcp_timeout_close_wait),
            "tcp_timeout_last_ack" => Num(&mut self.tcp_timeout_last_ack),
            "tcp_timeout_time_wait" => Num(&mut self.tcp_timeout_time_wait),
            "tcp_timeout_close" => Num(&mut self.tcp_timeout_close),
            "tcp_timeout_max_retrans" => Num(&mut self.tcp_timeout_max_retrans),
            "tcp_timeout_unacknowledged" => Num(&mut self.tcp_timeout_unacknowledged),
            "udp_timeout" => Num(&mut self.udp_timeout),
            "udp_timeout_stream" => Num(&mut self.udp_timeout_stream),
            "icmp_timeout" => Num(&mut self.icmp_timeout),
            "generic_timeout" => Num(&mut self.generic_timeout),
            "gre_timeout" => Num(&mut self.gre_timeout),
            "gre_timeout_stream" => Num(&mut self.gre_timeout_stream),
            "sctp_timeout_closed" => Num(&mut self.sctp_timeout_closed),
            "sctp_timeout_cookie_wait" => Num(&mut self.sctp_timeout_cookie_wait),
            "sctp_timeout_cookie_echoed" => Num(&mut self.sctp_timeout_cookie_echoed),
            "sctp_timeout_established" => Num(&mut self.sctp_timeout_established),
            "sctp_timeout_shutdown_sent" => Num(&mut self.sctp_timeout_shutdown_sent),
            "sctp_timeout_shutdown_recd" => Num(&mut self.sctp_timeout_shutdown_recd),
            "sctp_timeout_shutdown_ack_sent" => Num(&mut self.sctp_timeout_shutdown_ack_sent),
            "sctp_timeout_heartbeat_sent" => Num(&mut self.sctp_timeout_heartbeat_sent),
            "acct" => Flag(&mut self.acct),
            "timestamp" => Flag(&mut self.timestamp),
            _ => return None,
        })
    }

    /// Sets one value by sysctl name. Switches take `0`/`1`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingError> {
        let bad = || SettingError::BadValue {
            name: key.to_string(),
            value: value.to_string(),
        };
        let v: u64 = value.trim().parse().map_err(|_| bad())?;
        match self.field(Settings::short_name(key)) {
            None => Err(SettingError::Unknown(key.to_string())),
            Some(Field::Num(n)) => {
                *n = u32::try_from(v).map_err(|_| bad())?;
                Ok(())
            }
            Some(Field::Flag(b)) => {
                *b = v != 0;
                Ok(())
            }
        }
    }

    /// Reads one value by sysctl name.
    pub fn get(&self, key: &str) -> Option<u64> {
        let mut copy = self.clone();
        match copy.field(Settings::short_name(key))? {
            Field::Num(n) => Some(u64::from(*n)),
            Field::Flag(b) => Some(u64::from(*b)),
        }
    }
}

enum Field<'a> {
    Num(&'a mut u32),
    Flag(&'a mut bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_spellings_are_accepted() {
        let mut s = Settings::default();
        s.set("net.netfilter.nf_conntrack_tcp_loose", "0").unwrap();
        assert!(!s.tcp_loose);
        s.set("nf_conntrack_tcp_timeout_syn_sent", "3").unwrap();
        s.set("udp_timeout_stream", "7").unwrap();
        assert_eq!((s.tcp_timeout_syn_sent, s.udp_timeout_stream), (3, 7));
        s.set(
            "net.netfilter.nf_conntrack_sctp_timeout_heartbeat_sent",
            "5",
        )
        .unwrap();
        assert_eq!(s.get("sctp_timeout_heartbeat_sent"), Some(5));
        assert_eq!(
            Settings::default().get("sctp_timeout_established"),
            Some(210)
        );
        assert_eq!(s.get("tcp_timeout_syn_sent"), Some(3));
        assert!(matches!(
            s.set("tcp_nonsense", "1"),
            Err(SettingError::Unknown(_))
        ));
        assert!(matches!(
            s.set("tcp_loose", "yes"),
            Err(SettingError::BadValue { .. })
        ));
    }
}
