//! Typed access to a plugin's `--plugin-config KEY=VALUE` pairs.

use std::fmt::Display;
use std::str::FromStr;

use crate::format::parse_duration;

/// A plugin's configuration: the `--plugin-config KEY=VALUE` pairs given for it, in
/// command-line order. A key may repeat: [`get`](Config::get) and the typed getters read the
/// last value (later flags override earlier ones), [`all`](Config::all) reads every value.
///
/// Errors are ready to show to the user: they name the key and the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// Wraps the pairs the host passed to `init`.
    pub fn new(pairs: Vec<(String, String)>) -> Config {
        Config { pairs }
    }

    /// Builds a configuration from borrowed pairs (handy in tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Config {
        Config::new(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// Every pair, in command-line order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether no pairs were given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether `key` was given at all.
    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value given for `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The last value of `key` parsed as `T`; `Ok(None)` when the key is absent.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, String>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(key).map(|v| v.parse::<T>().map_err(|e| invalid(key, v, e))).transpose()
    }

    /// The last value of `key` as a duration in nanoseconds (`250ms`, `1.5s`, `100us`,
    /// `200ns`, `2m`; see [`parse_duration`](crate::parse_duration)).
    pub fn duration(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key).map(|v| parse_duration(v).map_err(|e| format!("config `{key}`: {e}"))).transpose()
    }

    /// The last value of `key` as a yes/no flag: `true`/`false`, `yes`/`no`, `on`/`off`,
    /// `1`/`0`; a key given with an empty value (`KEY=`) counts as `true`.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, String> {
        self.get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "" | "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(invalid(key, v, "expected true or false")),
            })
            .transpose()
    }

    /// Fails, naming the offender and the keys this plugin knows, if any key is not in
    /// `allowed`: call it first in [`Plugin::init`](crate::Plugin::init) so typos don't pass
    /// silently.
    pub fn unknown_keys(&self, allowed: &[&str]) -> Result<(), String> {
        let Some((key, _)) = self.pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) else {
            return Ok(());
        };
        if allowed.is_empty() {
            Err(format!("unknown config key `{key}`: this plugin takes no configuration"))
        } else {
            Err(format!("unknown config key `{key}` (known keys: {})", allowed.join(", ")))
        }
    }
}

fn invalid(key: &str, value: &str, why: impl Display) -> String {
    format!("config `{key}`: invalid value `{value}`: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_pairs([("kind", "dns-done"), ("n", "3"), ("kind", "request-done"), ("over", "1.5s")])
    }

    #[test]
    fn reads_values() {
        let c = cfg();
        assert_eq!(c.get("kind"), Some("request-done"));
        assert_eq!(c.all("kind").collect::<Vec<_>>(), ["dns-done", "request-done"]);
        assert_eq!(c.get("missing"), None);
        assert_eq!(c.parse::<u32>("n"), Ok(Some(3)));
        assert_eq!(c.parse::<u32>("missing"), Ok(None));
        assert_eq!(c.duration("over"), Ok(Some(1_500_000_000)));
        assert!(c.contains("n") && !c.is_empty());
    }

    #[test]
    fn errors_name_key_and_value() {
        let c = Config::from_pairs([("n", "x"), ("d", "5 parsecs"), ("f", "maybe")]);
        let e = c.parse::<u32>("n").unwrap_err();
        assert!(e.contains("`n`") && e.contains("`x`"), "{e}");
        let e = c.duration("d").unwrap_err();
        assert!(e.contains("`d`") && e.contains("`5 parsecs`"), "{e}");
        let e = c.flag("f").unwrap_err();
        assert!(e.contains("`f`") && e.contains("`maybe`"), "{e}");
        assert_eq!(Config::from_pairs([("f", "")]).flag("f"), Ok(Some(true)));
    }

    #[test]
    fn rejects_unknown_keys() {
        assert_eq!(cfg().unknown_keys(&["kind", "n", "over"]), Ok(()));
        let e = cfg().unknown_keys(&["kind", "over"]).unwrap_err();
        assert_eq!(e, "unknown config key `n` (known keys: kind, over)");
        assert!(cfg().unknown_keys(&[]).unwrap_err().contains("takes no configuration"));
    }
}
