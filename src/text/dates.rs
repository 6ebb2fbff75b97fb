//! Lenient timestamp parsing: the dates of feeds and of article pages
//! (meta tags, JSON-LD, `<time>`), one parser for both.
//!
//! Handles RFC 3339 / ISO 8601 (with or without seconds, offset or time),
//! RFC 822/2822 style dates with day and month names in English, Portuguese,
//! Spanish, Italian, French, German and Dutch, `GMT+2` style zones, missing
//! zones (taken as UTC) and a few common zone abbreviations. As a last resort
//! the string is handed to feed-rs's own lenient parser. Never panics.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parse a feed timestamp leniently. Returns `None` when nothing sensible
/// can be made of it, or when it falls outside the years 0–9999 (which RFC
/// 3339, the message's format, cannot write).
pub fn parse_date(input: &str) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    parse_any(input).filter(|date| (0..=9999).contains(&date.year()))
}

fn parse_any(input: &str) -> Option<DateTime<Utc>> {
    let s = input.trim();
    if s.is_empty() || s.len() > 200 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(dt.with_timezone(&Utc));
    }
    parse_iso_like(s)
        .or_else(|| parse_textual(s))
        .or_else(|| page_forms(s))
        .or_else(|| feed_rs_fallback(s))
}

/// Month number for a (lower-cased, trailing-dot-stripped) month name in one of the supported languages.
fn month_of(word: &str) -> Option<u32> {
    let m = match word {
        // English
        "jan" | "january" | "janv" | "janvier" | "januar" | "januari" | "janeiro" | "enero"
        | "ene" | "gennaio" | "gen" | "jän" | "jänner" | "jaenner" => 1,
        "feb" | "february" | "febr" | "févr" | "fevr" | "fév" | "fev" | "février" | "fevrier"
        | "februar" | "februari" | "fevereiro" | "febrero" | "febbraio" => 2,
        "mar" | "march" | "mars" | "märz" | "maerz" | "mär" | "mrz" | "maart" | "mrt" | "março"
        | "marco" | "marzo" => 3,
        "apr" | "april" | "avr" | "avril" | "abr" | "abril" | "aprile" => 4,
        "may" | "mai" | "mei" | "maio" | "mayo" | "mag" | "maggio" => 5,
        "jun" | "june" | "juin" | "juni" | "junho" | "junio" | "giu" | "giugno" => 6,
        "jul" | "july" | "juil" | "juillet" | "juli" | "julho" | "julio" | "lug" | "luglio" => 7,
        "aug" | "august" | "août" | "aout" | "aoû" | "augustus" | "ago" | "agosto" => 8,
        "sep" | "sept" | "september" | "septembre" | "set" | "setembro" | "septiembre"
        | "setiembre" | "settembre" => 9,
        "oct" | "october" | "octobre" | "okt" | "oktober" | "out" | "outubro" | "octubre"
        | "ott" | "ottobre" => 10,
        "nov" | "november" | "novembre" | "novembro" | "noviembre" => 11,
        "dec" | "december" | "déc" | "décembre" | "decembre" | "dez" | "dezember" | "dezembro"
        | "dic" | "diciembre" | "dicembre" => 12,
        _ => return None,
    };
    Some(m)
}

/// Whether a (lower-cased) word is a day-of-week name in one of the supported languages.
fn is_weekday(word: &str) -> bool {
    const EN: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if word.len() <= 9 && EN.iter().any(|p| word.starts_with(p)) {
        return true;
    }
    let w = word.split('-').next().unwrap_or(word);
    matches!(
        w,
        // Portuguese
        "seg" | "ter" | "qua" | "qui" | "sex" | "sáb" | "sab" | "dom" | "segunda" | "terça" | "terca"
        | "quarta" | "quinta" | "sexta" | "sábado" | "sabado" | "domingo"
        // Spanish
        | "lun" | "mar" | "mié" | "mie" | "jue" | "vie" | "lunes" | "martes" | "miércoles" | "miercoles"
        | "jueves" | "viernes"
        // Italian
        | "mer" | "gio" | "ven" | "lunedì" | "lunedi" | "martedì" | "martedi" | "mercoledì" | "mercoledi"
        | "giovedì" | "giovedi" | "venerdì" | "venerdi" | "sabato" | "domenica"
        // French
        | "jeu" | "sam" | "dim" | "lundi" | "mardi" | "mercredi" | "jeudi" | "vendredi" | "samedi"
        | "dimanche"
        // German
        | "mo" | "di" | "mi" | "do" | "fr" | "sa" | "so" | "montag" | "dienstag" | "mittwoch"
        | "donnerstag" | "freitag" | "samstag" | "sonntag"
        // Dutch
        | "ma" | "wo" | "vr" | "za" | "zo" | "maandag" | "dinsdag" | "woensdag" | "donderdag" | "vrijdag"
        | "zaterdag" | "zondag"
    )
}

/// Offset in seconds for a zone abbreviation.
fn zone_abbrev(word: &str) -> Option<i32> {
    let h = match word {
        "z" | "gmt" | "ut" | "utc" | "wet" => 0,
        "bst" | "cet" | "met" | "mez" | "west" => 1,
        "cest" | "mest" | "mesz" | "eet" => 2,
        "eest" | "msk" => 3,
        "est" => -5,
        "edt" | "ast" => -4,
        "cst" => -6,
        "cdt" => -5,
        "mst" => -7,
        "mdt" => -6,
        "pst" => -8,
        "pdt" => -7,
        "brt" | "art" => -3,
        "hkt" | "sgt" | "awst" => 8,
        "jst" | "kst" => 9,
        "aest" => 10,
        "aedt" => 11,
        "ist" => return Some(5 * 3600 + 1800),
        _ => return None,
    };
    Some(h * 3600)
}

/// Parse a numeric offset such as `+0200`, `+02:00`, `-3`, `+5:30` (sign required).
fn numeric_offset(s: &str) -> Option<i32> {
    let mut chars = s.chars();
    let sign = match chars.next()? {
        '+' => 1,
        '-' | '\u{2212}' => -1,
        _ => return None,
    };
    let rest: &str = chars.as_str();
    // Split by bytes below: anything but ASCII is no offset (and would
    // split a character: `-꣠` panicked).
    if !rest.is_ascii() {
        return None;
    }
    let (h, m) = if let Some((h, m)) = rest.split_once(':') {
        (h, m)
    } else if rest.len() == 4 {
        rest.split_at(2)
    } else if rest.len() == 3 {
        rest.split_at(1)
    } else {
        (rest, "0")
    };
    if h.is_empty()
        || h.len() > 2
        || m.len() > 2
        || !h.bytes().all(|b| b.is_ascii_digit())
        || !m.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Offset for a zone token: abbreviation, numeric, or `GMT+2` / `UTC-03:00` forms.
fn zone_token(tok: &str) -> Option<i32> {
    let lower = tok.to_lowercase();
    if let Some(off) = zone_abbrev(&lower) {
        return Some(off);
    }
    if let Some(off) = numeric_offset(&lower) {
        return Some(off);
    }
    for prefix in ["gmt", "utc", "ut"] {
        if let Some(rest) = lower.strip_prefix(prefix)
            && let Some(off) = numeric_offset(rest)
        {
            return Some(off);
        }
    }
    None
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.trim_end_matches('.');
    let (main, frac) = match s.split_once(['.', ',']) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let parts: Vec<&str> = main.split([':', 'h', 'H']).collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut nums = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        nums[i] = p.parse().ok()?;
    }
    if parts.len() == 1 {
        return None;
    }
    let mut hour = nums[0];
    if hour == 24 {
        hour = 0;
    }
    let sec = nums[2].min(59);
    let nanos = match frac {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits: String = f.chars().take(9).collect();
            let n: u32 = digits.parse().ok()?;
            n * 10u32.pow(9 - digits.len() as u32)
        }
        _ => 0,
    };
    NaiveTime::from_hms_nano_opt(hour, nums[1], sec, nanos)
}

fn finish(date: NaiveDate, time: Option<NaiveTime>, offset: Option<i32>) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::new(date, time.unwrap_or(NaiveTime::MIN));
    let tz = FixedOffset::east_opt(offset.unwrap_or(0))?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// ISO 8601-ish: `2018-09-24`, `2018-09-24T10:00`, `2018-09-24 10:00:00 +0200`, `20180924T100000Z`, `2018/09/24`.
fn parse_iso_like(s: &str) -> Option<DateTime<Utc>> {
    let bytes = s.as_bytes();
    if bytes.len() < 4 || !bytes[..4].iter().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (date_part, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date = parse_iso_date(date_part)?;
    if rest.is_empty() {
        return finish(date, None, None);
    }
    // Split the time from its zone.
    let mut rest = rest.to_string();
    let mut offset = None;
    if let Some((t, z)) = rest.rsplit_once(' ')
        && let Some(off) = zone_token(z)
    {
        offset = Some(off);
        rest = t.trim().to_string();
    }
    if offset.is_none() {
        if rest.ends_with(['Z', 'z']) {
            offset = Some(0);
            rest.pop();
        } else if let Some(i) = rest.rfind(['+', '-']) {
            offset = Some(numeric_offset(&rest[i..])?);
            rest.truncate(i);
        }
    }
    let rest = rest.trim();
    let time = if rest.is_empty() {
        None
    } else if all_digits(rest) && (rest.len() == 4 || rest.len() == 6) {
        let (h, ms) = rest.split_at(2);
        let (m, sec) = ms.split_at(2);
        let sec = if sec.is_empty() { "0" } else { sec };
        Some(NaiveTime::from_hms_opt(
            h.parse().ok()?,
            m.parse().ok()?,
            sec.parse().ok()?,
        )?)
    } else {
        Some(parse_time(rest)?)
    };
    finish(date, time, offset)
}

fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    if all_digits(s) && s.len() == 8 {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    if parts.iter().any(|p| !all_digits(p)) {
        return None;
    }
    let year: i32 = parts.first()?.parse().ok()?;
    let month: u32 = parts.get(1).map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = parts.get(2).map_or(Some(1), |d| d.parse().ok())?;
    if parts.len() > 3 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// RFC 822-like textual dates in several languages, tokenised loosely.
fn parse_textual(s: &str) -> Option<DateTime<Utc>> {
    let cleaned: String = s
        .chars()
        .map(|c| if c == ',' || c == '\u{a0}' { ' ' } else { c })
        .collect();
    let mut tokens: Vec<String> = Vec::new();
    for raw in cleaned.split_whitespace() {
        // Split a zone glued to a time ("10:00:00+0200", "10:00Z").
        if raw.contains(':')
            && raw.as_bytes().first().is_some_and(|b| b.is_ascii_digit())
            && let Some(i) = raw.find(['+', '-', 'Z', 'z'])
            && i > 0
        {
            tokens.push(raw[..i].to_string());
            tokens.push(raw[i..].to_string());
            continue;
        }
        tokens.push(raw.to_string());
    }

    let mut year: Option<i32> = None;
    let mut month_candidates: Vec<(usize, u32, bool)> = Vec::new(); // (token index, month, also a weekday)
    let mut numbers: Vec<(usize, u32, usize)> = Vec::new(); // (index, value, digit count)
    let mut time: Option<NaiveTime> = None;
    let mut offset: Option<i32> = None;
    let mut pm: Option<bool> = None;

    for (i, tok) in tokens.iter().enumerate() {
        let lower = tok.to_lowercase();
        let word = lower.trim_end_matches('.');
        if time.is_none()
            && word.contains(':')
            && word.as_bytes().first().is_some_and(|b| b.is_ascii_digit())
            && let Some(t) = parse_time(word)
        {
            time = Some(t);
            continue;
        }
        if all_digits(word) {
            let v: u32 = match word.parse() {
                Ok(v) => v,
                Err(_) => continue,
            };
            numbers.push((i, v, word.len()));
            continue;
        }
        // Day numbers such as "24th", "1er", "3."
        let digits: String = word.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty()
            && digits.len() <= 2
            && matches!(
                &word[digits.len()..],
                "st" | "nd" | "rd" | "th" | "er" | "º" | "ª"
            )
        {
            if let Ok(v) = digits.parse() {
                numbers.push((i, v, digits.len()));
            }
            continue;
        }
        if matches!(word, "am" | "a.m" | "pm" | "p.m") {
            pm = Some(word.starts_with('p'));
            continue;
        }
        if let Some(m) = month_of(word) {
            month_candidates.push((i, m, is_weekday(word)));
            continue;
        }
        if is_weekday(word) {
            continue;
        }
        if offset.is_none()
            && let Some(off) = zone_token(tok)
        {
            offset = Some(off);
            continue;
        }
        // Any other word ("de", "at", "um", zone names we do not know) is ignored.
    }

    // Choose the month: when several names look like months, a leading one that is
    // also a weekday name ("mar, 15 nov" in Spanish/Italian/French) is the weekday.
    let month = if month_candidates.len() > 1 {
        month_candidates
            .iter()
            .find(|(_, _, wd)| !wd)
            .or(month_candidates.last())
    } else {
        month_candidates.first()
    };
    let (month_idx, month) = month.map(|(i, m, _)| (*i, *m))?;

    // Year: a 4-digit number, else a 2-digit number after the month and day.
    let mut day: Option<u32> = None;
    let mut used = Vec::new();
    if let Some(&(i, v, _)) = numbers.iter().find(|(_, _, n)| *n == 4) {
        year = i32::try_from(v).ok();
        used.push(i);
    }
    // Day: the small number closest to the month name.
    let mut best: Option<(usize, u32)> = None;
    for &(i, v, n) in &numbers {
        if used.contains(&i) || n > 2 || v == 0 || v > 31 {
            continue;
        }
        let dist = i.abs_diff(month_idx);
        if best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, v));
            day = Some(v);
            used.clear();
            used.push(i);
        }
    }
    if year.is_none() {
        // two-digit year: the last 1-2 digit number that is not the day
        let day_idx = used.first().copied();
        if let Some(&(_, v, _)) = numbers
            .iter()
            .rev()
            .find(|(i, _, n)| Some(*i) != day_idx && *n <= 2)
        {
            year = Some(if v < 70 {
                2000 + v as i32
            } else {
                1900 + v as i32
            });
        }
    }
    let year = year?;
    let day = day?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = match (time, pm) {
        (Some(t), Some(is_pm)) => {
            use chrono::Timelike;
            let h = t.hour() % 12 + if is_pm { 12 } else { 0 };
            t.with_hour(h)
        }
        (t, _) => t,
    };
    finish(date, time, offset)
}

/// Forms seen on article pages that the parsers above do not take:
/// compact and slashed ISO, US long dates with a 12-hour clock, and a date
/// followed by text nobody can read (the date is still right).
fn page_forms(s: &str) -> Option<DateTime<Utc>> {
    for f in ["%A, %B %d, %Y %I:%M %p %z", "%Y-%m-%d %H:%M:%S %z"] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let bare = s
        .trim_end_matches('Z')
        .trim_end_matches(" UTC")
        .trim_end_matches(" GMT");
    for f in ["%Y/%m/%d %H:%M:%S", "%Y%m%dT%H%M%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(bare, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for f in ["%Y/%m/%d", "%Y%m%d", "%B %d, %Y", "%d %B %Y", "%b %d, %Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(bare, f) {
            return finish(d, None, None);
        }
    }
    let prefix = s.get(..10).filter(|p| p.as_bytes().get(4) == Some(&b'-'))?;
    NaiveDate::parse_from_str(prefix, "%Y-%m-%d")
        .ok()
        .and_then(|d| finish(d, None, None))
}

/// Last resort: feed-rs's built-in lenient parser is private, so feed it a tiny RSS document.
fn feed_rs_fallback(s: &str) -> Option<DateTime<Utc>> {
    let escaped = s.replace('&', "&amp;").replace('<', "&lt;");
    let doc = format!(
        "<rss version=\"2.0\"><channel><item><pubDate>{escaped}</pubDate></item></channel></rss>"
    );
    let feed = std::panic::catch_unwind(|| feed_rs::parser::parse(doc.as_bytes()).ok()).ok()??;
    feed.entries.first().and_then(|e| e.published)
}

#[cfg(test)]
mod tests;
