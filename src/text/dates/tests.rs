//! Tests of the lenient date parser: known forms, and properties over
//! generated dates and arbitrary text.

use super::*;
use chrono::{Datelike, Timelike};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn iso(s: &str) -> String {
    parse_date(s)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| "NONE".into())
}

#[test]
fn standard_formats() {
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00 GMT"),
        "2018-09-24T10:00:00+00:00"
    );
    assert_eq!(
        iso("2018-09-24T10:00:00+02:00"),
        "2018-09-24T08:00:00+00:00"
    );
    assert_eq!(
        iso("Tue, 15 Nov 2022 20:15:04 Z"),
        "2022-11-15T20:15:04+00:00"
    );
}

#[test]
fn non_english_names() {
    assert_eq!(
        iso("Seg, 24 Set 2018 10:00:00 -0300"),
        "2018-09-24T13:00:00+00:00"
    );
    assert_eq!(
        iso("mer, 16 nov 2022 10:30:00 +0100"),
        "2022-11-16T09:30:00+00:00"
    );
    assert_eq!(
        iso("Mi, 16 Okt 2019 08:00:00 +0200"),
        "2019-10-16T06:00:00+00:00"
    );
    assert_eq!(
        iso("Do, 5 Mär 2020 12:00:00 +0100"),
        "2020-03-05T11:00:00+00:00"
    );
    assert_eq!(
        iso("mar., 15 mars 2022 09:00:00 +0100"),
        "2022-03-15T08:00:00+00:00"
    );
    assert_eq!(
        iso("lun, 3 janv. 2022 09:00:00 +0100"),
        "2022-01-03T08:00:00+00:00"
    );
    assert_eq!(
        iso("mié, 02 dic 2020 18:00:00 -0500"),
        "2020-12-02T23:00:00+00:00"
    );
    assert_eq!(
        iso("mar, 15 mar 2022 09:00:00 +0000"),
        "2022-03-15T09:00:00+00:00"
    );
    assert_eq!(
        iso("wo, 12 mei 2021 07:00:00 +0200"),
        "2021-05-12T05:00:00+00:00"
    );
    assert_eq!(
        iso("Sábado, 1 de agosto de 2020 10:00"),
        "2020-08-01T10:00:00+00:00"
    );
}

#[test]
fn zones() {
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00"),
        "2018-09-24T10:00:00+00:00"
    );
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00 GMT+2"),
        "2018-09-24T08:00:00+00:00"
    );
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00 UTC-03:00"),
        "2018-09-24T13:00:00+00:00"
    );
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00 EST"),
        "2018-09-24T15:00:00+00:00"
    );
    assert_eq!(
        iso("Thurs, 13 Jul 2011 07:38:00 GMT"),
        "2011-07-13T07:38:00+00:00"
    );
    assert_eq!(iso("Sep 24, 2018 10:00 PM"), "2018-09-24T22:00:00+00:00");
    // A zone that cannot be read is ignored, as unknown zone names are.
    assert_eq!(
        iso("Mon, 24 Sep 2018 10:00:00 +é"),
        "2018-09-24T10:00:00+00:00"
    );
}

#[test]
fn iso_variants() {
    assert_eq!(iso("2018-09-24T10:00+02:00"), "2018-09-24T08:00:00+00:00");
    assert_eq!(iso("2018-09-24T10:00Z"), "2018-09-24T10:00:00+00:00");
    assert_eq!(iso("2018-09-24 10:00:00"), "2018-09-24T10:00:00+00:00");
    assert_eq!(iso("2018-09-24"), "2018-09-24T00:00:00+00:00");
    assert_eq!(
        iso("2018-09-24T10:00:00.123+0200"),
        "2018-09-24T08:00:00.123+00:00"
    );
    assert_eq!(iso("20180924T100000Z"), "2018-09-24T10:00:00+00:00");
}

#[test]
fn garbage_is_no_date() {
    for s in [
        "",
        "   ",
        "garbage",
        "yesterday-ish",
        "99:99:99",
        "32 Foo 2020",
        "Mon, 31 Feb 2020 10:00:00 GMT",
        "+99999",
        "2020-13-45T99:99",
        "9999999999999999999 jan",
        "1 jan 99999999999",
        "\u{0}",
        "ⅫⅫ",
        "-\u{a8e0}",
        // Years RFC 3339 cannot write.
        "10000-01-01T00:00:00Z",
        "0000-01-01T00:30:00+01:00",
    ] {
        assert_eq!(parse_date(s), None, "{s:?}");
    }
}

/// Zone abbreviations and their offsets from UTC, in hours.
const ZONES: &[(&str, f64)] = &[
    ("GMT", 0.0),
    ("UTC", 0.0),
    ("CET", 1.0),
    ("CEST", 2.0),
    ("MSK", 3.0),
    ("EST", -5.0),
    ("EDT", -4.0),
    ("PST", -8.0),
    ("BRT", -3.0),
    ("JST", 9.0),
    ("AEST", 10.0),
    ("IST", 5.5),
];

/// English, German and French month names, by month.
const MONTHS: [[&str; 3]; 12] = [
    ["Jan", "Januar", "janvier"],
    ["Feb", "Februar", "février"],
    ["Mar", "März", "mars"],
    ["Apr", "April", "avril"],
    ["May", "Mai", "mai"],
    ["Jun", "Juni", "juin"],
    ["Jul", "Juli", "juillet"],
    ["Aug", "August", "août"],
    ["Sep", "September", "septembre"],
    ["Oct", "Oktober", "octobre"],
    ["Nov", "November", "novembre"],
    ["Dec", "Dezember", "décembre"],
];

/// A moment between 1970 and 2100, to the second, and an offset from UTC
/// in minutes (−14 h to +14 h).
fn moment_and_offset() -> impl Strategy<Value = (DateTime<Utc>, FixedOffset)> {
    (0i64..4_102_444_800, -14 * 60..=14 * 60i32).prop_map(|(secs, minutes)| {
        (
            DateTime::from_timestamp(secs, 0).expect("in range"),
            FixedOffset::east_opt(minutes * 60).expect("in range"),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A moment written with any offset, in RFC 2822, RFC 3339 or the
    /// space-separated ISO form feeds use, is read as that same moment.
    #[test]
    fn an_offset_date_is_its_utc_moment((moment, offset) in moment_and_offset()) {
        let local = moment.with_timezone(&offset);
        // Offsets are whole minutes: the seconds are the same in both.
        let to_the_minute = moment - chrono::Duration::seconds(i64::from(moment.second()));
        for (written, expected) in [
            (local.to_rfc2822(), moment),
            (local.to_rfc3339(), moment),
            (local.format("%Y-%m-%d %H:%M:%S %z").to_string(), moment),
            (local.format("%Y-%m-%dT%H:%M%:z").to_string(), to_the_minute),
        ] {
            prop_assert_eq!(parse_date(&written), Some(expected), "{}", written);
        }
    }

    /// Month names in other languages and zone abbreviations read as the
    /// same moment as their English, numeric-offset form.
    #[test]
    fn names_and_zones_are_offsets(
        (moment, _) in moment_and_offset(),
        zone in 0..ZONES.len(),
        language in 0..3usize,
    ) {
        let (name, hours) = ZONES[zone];
        let offset = FixedOffset::east_opt((hours * 3600.0) as i32).expect("in range");
        let local = moment.with_timezone(&offset);
        let month = MONTHS[local.month0() as usize][language];
        let written = format!(
            "{} {month} {} {} {name}",
            local.day(),
            local.year(),
            local.format("%H:%M:%S"),
        );
        prop_assert_eq!(parse_date(&written), Some(moment), "{}", written);
    }

    /// Whatever the text, a date read from it is a sane one (years 0 to
    /// 9999, as feeds write them) that reads back from its RFC 3339 form
    /// unchanged.
    #[test]
    fn any_date_read_round_trips(text in "\\PC{0,40}") {
        if let Some(date) = parse_date(&text) {
            prop_assert!((0..=9999).contains(&date.year()), "{} from {:?}", date, text);
            prop_assert_eq!(parse_date(&date.to_rfc3339()), Some(date));
        }
    }

    /// The same for text put together from the parts of dates, valid or
    /// not, which reaches every parser (see `date_like_text_is_often_a_date`).
    #[test]
    fn any_date_like_text_round_trips(text in date_like()) {
        if let Some(date) = parse_date(&text) {
            prop_assert!((0..=9999).contains(&date.year()), "{} from {:?}", date, text);
            prop_assert_eq!(parse_date(&date.to_rfc3339()), Some(date));
        }
    }
}

/// Text made of the parts of dates, in the orders feeds write them: a
/// weekday, day, month (a name in some language, or a number), year (2 to
/// 5 digits), a time and a zone, each part possibly out of range or missing.
fn date_like() -> impl Strategy<Value = String> {
    let weekday = prop::sample::select(vec!["", "Mon, ", "mar., ", "Mi, ", "Sábado, ", "wo "]);
    let names: Vec<&str> = MONTHS.iter().flatten().copied().collect();
    let month = prop_oneof![
        prop::sample::select(names).prop_map(str::to_string),
        (0u32..14).prop_map(|m| format!("{m:02}")),
    ];
    let year = prop_oneof![0u32..100, 1900u32..2100, 0u32..100_000];
    let time = prop::option::of((0u32..30, 0u32..70, prop::option::of(0u32..70)));
    let zone = prop::sample::select(vec![
        "", " GMT", " Z", " +0200", " -03:00", " GMT+2", " UTC-3", " EST", " IST", " +99", " XYZ",
    ]);
    let shape = 0..3u8;
    (weekday, 0u32..34, month, year, time, zone, shape).prop_map(
        |(weekday, day, month, year, time, zone, shape)| {
            let time = time.map_or(String::new(), |(h, m, s)| match s {
                Some(s) => format!("{h:02}:{m:02}:{s:02}"),
                None => format!("{h:02}:{m:02}"),
            });
            match shape {
                0 => format!("{weekday}{day} {month} {year} {time}{zone}"),
                1 => format!("{year:04}-{month}-{day:02}T{time}{zone}"),
                _ => format!("{month} {day}, {year} {time}{zone}"),
            }
        },
    )
}

#[test]
fn date_like_text_is_often_a_date() {
    // The property above says something only if many of its inputs are dates.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = date_like();
    let dates = (0..1000)
        .filter(|_| parse_date(&strategy.new_tree(&mut runner).unwrap().current()).is_some())
        .count();
    assert!(dates > 200, "only {dates} of 1000 were dates");
}

#[test]
fn page_forms() {
    for (input, want) in [
        ("2024/01/02 03:04:05", "2024-01-02T03:04:05Z"),
        ("20240102T030405", "2024-01-02T03:04:05Z"),
        ("20240102", "2024-01-02T00:00:00Z"),
        (
            "Tuesday, January 2, 2024 3:04 PM -0500",
            "2024-01-02T20:04:00Z",
        ),
        ("2024-01-02 03:04:05 +0100", "2024-01-02T02:04:05Z"),
        ("2024-01-02, updated at noon", "2024-01-02T00:00:00Z"),
    ] {
        assert_eq!(
            parse_date(input).map(|d| iso_z(&d)),
            Some(want.to_string()),
            "{input}"
        );
    }
    assert!(parse_date("yesterday").is_none());
}

fn iso_z(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
