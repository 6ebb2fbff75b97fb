//! Dates as news pages write them, parsed into UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parse the date formats seen on news pages into UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    let with_tz = [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S %z",
        "%a, %d %b %Y %H:%M:%S %z",
        "%A, %B %d, %Y %I:%M %p %z",
    ];
    for f in with_tz {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let s2 = s
        .trim_end_matches('Z')
        .trim_end_matches(" UTC")
        .trim_end_matches(" GMT");
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y%m%dT%H%M%S",
    ];
    for f in naive {
        if let Ok(d) = NaiveDateTime::parse_from_str(s2, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for f in [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%Y%m%d",
        "%B %d, %Y",
        "%d %B %Y",
        "%b %d, %Y",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(s2, f) {
            return d.and_hms_opt(0, 0, 0).map(|d| Utc.from_utc_datetime(&d));
        }
    }
    // A date prefix followed by something we do not understand.
    if s.len() >= 10 && s.is_char_boundary(10) && s.as_bytes().get(4) == Some(&b'-') {
        return NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for s in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.123+0000",
            "2024-01-02 03:04:05",
            "2024-01-02",
            "Tue, 02 Jan 2024 03:04:05 GMT",
        ] {
            assert!(parse_date(s).is_some(), "{s}");
        }
        assert!(parse_date("yesterday").is_none());
    }
}
