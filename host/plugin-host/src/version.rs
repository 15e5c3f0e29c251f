//! The released versions of the plugin contract this host serves, newest last. A plugin built
//! against any of them loads unchanged: each version has its own bindings
//! ([`host::v0_1_0`](super::host::v0_1_0), ...) and its own event layout
//! ([`lower::Abi`](super::lower::Abi)).

/// One released version of `httptrace:plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// 0.1.0: the first contract.
    V0_1_0,
    /// 0.2.0 (2026-12-01): adds `tls-handshake-done.key-exchange-group`.
    V0_2_0,
    /// 0.3.0 (2026-12-02): adds the kinds `proxy-connect-start` and `proxy-connect-done`,
    /// `request-start.post-data`, `tls-handshake-done.client-certificate-requested` and
    /// `-sent`, `request-done.client-lag-ns`.
    V0_3_0,
    /// 0.4.0 (2026-12-02): adds the kinds `quic-handshake-start` and `quic-handshake-done`.
    V0_4_0,
    /// 0.5.0 (2026-12-02): `wrote-headers`, `wrote-request` and `got-first-response-byte` say
    /// which clock stamped them.
    V0_5_0,
    /// 0.6.0 (2026-12-02): `dns-start`, `dns-done`, `connect-start` and `connect-done` name
    /// the proxy when the lookup or connect is the proxy's own.
    V0_6_0,
    /// 0.7.0 (2026-12-03): `hop-summary.bytes`, the bytes each hop moved.
    V0_7_0,
}

impl Version {
    /// Every version served, oldest first.
    pub(crate) const ALL: [Version; 7] =
        [Version::V0_1_0, Version::V0_2_0, Version::V0_3_0, Version::V0_4_0, Version::V0_5_0, Version::V0_6_0, Version::V0_7_0];

    /// The newest version (the one [`super::WORLD_VERSION`] names).
    pub(crate) const NEWEST: Version = Version::V0_7_0;

    /// `0.1.0`, ...
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
            Version::V0_4_0 => "0.4.0",
            Version::V0_5_0 => "0.5.0",
            Version::V0_6_0 => "0.6.0",
            Version::V0_7_0 => "0.7.0",
        }
    }

    /// The version a component's `httptrace:plugin@X` names: semver for 0.x, so `0.1.3`
    /// is served as `0.1.0` (the minor version must match; a patch adds nothing a plugin sees).
    pub(crate) fn of(v: &str) -> Option<Version> {
        let got: Vec<&str> = v.split('.').collect();
        if got.len() != 3 || got[2].parse::<u32>().is_err() {
            return None;
        }
        Version::ALL.into_iter().find(|known| {
            let want: Vec<&str> = known.as_str().split('.').collect();
            got[0] == want[0] && got[1] == want[1]
        })
    }

    /// The versions served, for messages: `@0.1.x, @0.2.x`.
    pub(crate) fn served() -> String {
        Version::ALL.iter().map(|v| format!("@{}.x", v.as_str().rsplit_once('.').map_or("", |(mm, _)| mm))).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_are_the_contracts_released_ones() {
        let names: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(names, httptrace_wit::RELEASED_VERSIONS);
        assert_eq!(Version::NEWEST.as_str(), httptrace_wit::WORLD_VERSION);
        assert_eq!(Version::ALL.last(), Some(&Version::NEWEST));
    }

    #[test]
    fn versions_are_matched_by_minor() {
        assert_eq!(Version::of("0.1.0"), Some(Version::V0_1_0));
        assert_eq!(Version::of("0.1.3"), Some(Version::V0_1_0));
        assert_eq!(Version::of("0.2.0"), Some(Version::V0_2_0));
        assert_eq!(Version::of("0.3.1"), Some(Version::V0_3_0));
        assert_eq!(Version::of("0.4.0"), Some(Version::V0_4_0));
        assert_eq!(Version::of("0.5.0"), Some(Version::V0_5_0));
        assert_eq!(Version::of("0.6.0"), Some(Version::V0_6_0));
        assert_eq!(Version::of("0.7.2"), Some(Version::V0_7_0));
        for other in ["0.8.0", "1.1.0", "0.2", "0.2.x", "(unversioned)", ""] {
            assert_eq!(Version::of(other), None, "{other}");
        }
        assert_eq!(Version::served(), "@0.1.x, @0.2.x, @0.3.x, @0.4.x, @0.5.x, @0.6.x, @0.7.x");
    }
}
