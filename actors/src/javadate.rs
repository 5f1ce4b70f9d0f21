//! Instants as Java's `Date.toString()` prints them (`EEE MMM dd HH:mm:ss zzz yyyy`, e.g.
//! `Sun Dec 06 23:58:31 UTC 2026`), the form ZooKeeper's `dump` word and zkCli's `stat` show.
//!
//! Invariants:
//! * [`format`] is pure: the zone is an argument; only [`local_zone`] looks at the system (the
//!   `TZ` variable, then `/etc/localtime`), as the JVM takes its default zone from them;
//! * the zone name is the tz database's abbreviation for that instant (`UTC`, `CET`, `CEST`,
//!   `EST`…), which is Java's short name for UTC and the common zones; where the tz database
//!   has only a numeric abbreviation (`-03`), Java prints a name of its own (`BRT`) and this
//!   module prints the number;
//! * a zone that cannot be found is UTC (the JVM would say `GMT`); an instant out of range
//!   prints as its milliseconds.

use jiff::fmt::strtime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The system's time zone (`TZ`, else `/etc/localtime`), UTC if it cannot be determined.
pub fn local_zone() -> TimeZone {
    TimeZone::try_system().unwrap_or(TimeZone::UTC)
}

/// `ms` since the epoch as Java's `Date.toString()` prints it in `zone`.
pub fn format(ms: i64, zone: &TimeZone) -> String {
    Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| {
            strtime::format(
                "%a %b %d %H:%M:%S %Z %Y",
                &t.to_zoned_datetime(zone.clone()),
            )
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `ms` since the epoch as Java's `Date.toString()` prints it in the system's time zone.
pub fn local(ms: i64) -> String {
    format(ms, &local_zone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(posix: &str) -> TimeZone {
        TimeZone::posix(posix).expect("a valid POSIX TZ string")
    }

    #[test]
    fn utc_as_java_prints_it() {
        assert_eq!(
            format(1_796_509_332_000, &TimeZone::UTC),
            "Sat Dec 05 22:22:12 UTC 2026"
        );
        assert_eq!(format(0, &TimeZone::UTC), "Thu Jan 01 00:00:00 UTC 1970");
        // milliseconds are dropped, not rounded; the day of the month keeps two digits
        assert_eq!(
            format(1_796_601_511_999, &TimeZone::UTC),
            "Sun Dec 06 23:58:31 UTC 2026"
        );
    }

    #[test]
    fn a_zone_with_summer_time_names_the_offset_in_force() {
        let berlin = zone("CET-1CEST,M3.5.0,M10.5.0/3");
        assert_eq!(
            format(1_796_509_332_000, &berlin),
            "Sat Dec 05 23:22:12 CET 2026"
        );
        assert_eq!(
            format(1_783_000_000_000, &berlin),
            "Thu Jul 02 15:46:40 CEST 2026"
        );
        let new_york = zone("EST5EDT,M3.2.0,M11.1.0");
        assert_eq!(
            format(1_796_509_332_000, &new_york),
            "Sat Dec 05 17:22:12 EST 2026"
        );
    }

    #[test]
    fn an_instant_out_of_range_prints_its_milliseconds() {
        assert_eq!(format(i64::MAX, &TimeZone::UTC), i64::MAX.to_string());
    }
}
