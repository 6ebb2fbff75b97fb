//! Hostile feeds cost at most a bounded multiple of their size in memory:
//! deep nesting in item HTML, a huge truncated feed, many items or values. Memory is measured with a counting
//! allocator (peak bytes live on the test's own thread while the feed is
//! parsed). The inputs are the ones that took minutes to hours before the
//! depth cap and the linear repair, so this file also stands for the time
//! bounds without a clock.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use feedwire::feed::{MAX_ITEMS, ParsedFeed, parse_feed};

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are const-initialized thread-locals without destructors, so
// touching them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated (beyond what was live before) while `f` runs on this thread.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, peak - before)
}

/// Generous: a feed is decoded, cleaned and repaired as a few copies of
/// itself, and feed-rs's model and ours hold its text once or twice more.
const MAX_BYTES_PER_INPUT_BYTE: usize = 24;
/// Plus a fixed allowance: up to [`MAX_ITEMS`] items of a few hundred bytes
/// of structs each, however short the items are written.
const FIXED_ALLOWANCE: usize = 32 << 20;

fn bound(input: usize) -> usize {
    MAX_BYTES_PER_INPUT_BYTE * input + FIXED_ALLOWANCE
}

fn parse_within_bound(name: &str, body: &[u8]) -> Result<ParsedFeed, String> {
    let (parsed, peak) = peak_during(|| parse_feed(body, None, None));
    eprintln!(
        "{name}: {} bytes in, peak {} bytes ({:.1}x)",
        body.len(),
        peak,
        peak as f64 / body.len() as f64
    );
    assert!(
        peak <= bound(body.len()),
        "{name}: peak {peak} bytes for {} bytes of feed",
        body.len()
    );
    parsed.map_err(|e| e.to_string())
}

const HEAD: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
                    <link>https://example.org/</link>\n";

fn item(i: usize, description: &str) -> String {
    format!(
        "<item><title>Item {i}</title><link>https://example.org/a/{i}</link>\
         <description>{description}</description></item>\n"
    )
}

#[test]
fn deep_nesting_in_descriptions() {
    // 20 items of 40,000 nested <div>s each, raw (CDATA) and escaped: before
    // the depth cap, each description alone took 12 s (release).
    let deep = format!("{}deep{}", "<div>".repeat(40_000), "</div>".repeat(40_000));
    let escaped = deep.replace('<', "&lt;").replace('>', "&gt;");
    let mut feed = HEAD.to_string();
    for i in 0..20 {
        let description = if i % 2 == 0 {
            format!("<![CDATA[{deep}]]>")
        } else {
            escaped.clone()
        };
        feed.push_str(&item(i, &description));
    }
    feed.push_str("</channel></rss>");
    let parsed = parse_within_bound("deep descriptions", feed.as_bytes()).expect("a feed");
    assert_eq!(parsed.items.len(), 20);
    for item in &parsed.items {
        assert_eq!(item.summary.as_deref(), Some("deep"));
    }
}

#[test]
fn huge_truncated_feed() {
    // An item holding 99,000 unclosed elements and as many end tags that
    // match none of them, then a cut mid-item: the repair's stack search
    // made this about 10^10 steps (and a 10 MB one hours).
    let n = 99_000;
    let feed = format!(
        "{HEAD}{}<item><title>broken</title><description>{}{}</description></item>\n\
         <item><title>cut off",
        item(0, "first"),
        "<a>".repeat(n),
        "</b>".repeat(n)
    );
    // The document stays broken after the repair (the end tags match
    // nothing); what matters is that the attempt is bounded.
    let _ = parse_within_bound("truncated, unmatched end tags", feed.as_bytes());
    // 10 MB cut off mid-item: the complete items are kept.
    let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(90);
    let mut feed = HEAD.to_string();
    let mut items = 0;
    while feed.len() < 10_000_000 {
        feed.push_str(&item(items, &text));
        items += 1;
    }
    feed.push_str("<item><title>cut off");
    let parsed = parse_within_bound("10 MB truncated", feed.as_bytes()).expect("repaired");
    assert_eq!(parsed.items.len(), items);
}

#[test]
fn many_items() {
    let mut feed = HEAD.to_string();
    for i in 0..50_000 {
        feed.push_str(&item(
            i,
            &format!("Summary of story {i} with &lt;b&gt;markup&lt;/b&gt; &amp; entities"),
        ));
    }
    feed.push_str("</channel></rss>");
    let parsed = parse_within_bound("50,000 items", feed.as_bytes()).expect("a feed");
    // A document yields its first MAX_ITEMS items.
    assert_eq!(parsed.items.len(), MAX_ITEMS);
    assert_eq!(
        parsed.items[7].summary.as_deref(),
        Some("Summary of story 7 with markup & entities")
    );
}

#[test]
fn many_tiny_elements() {
    // 10 MB of `<item/>` (1.4 million items) took 1.1 GB.
    let feed = format!("{HEAD}{}</channel></rss>", "<item/>".repeat(1_400_000));
    let parsed = parse_within_bound("10 MB of <item/>", feed.as_bytes()).expect("a feed");
    assert_eq!(parsed.items.len(), MAX_ITEMS);
    // One item of a million categories, after a normal one: the big one is
    // dropped, the rest of the feed is read.
    let feed = format!(
        "{HEAD}{}<item><title>big</title>{}</item></channel></rss>",
        item(0, "normal"),
        "<category>c</category>".repeat(1_000_000)
    );
    let parsed = parse_within_bound("a million categories", feed.as_bytes()).expect("a feed");
    assert_eq!(parsed.items.len(), 1);
    // A channel of a million links before any item.
    let feed = format!(
        "{HEAD}{}{}</channel></rss>",
        "<link/>".repeat(1_400_000),
        item(0, "x")
    );
    let _ = parse_within_bound("a million channel links", feed.as_bytes());
}

#[test]
fn json_feed_of_many_small_values() {
    // 11 MB of `{"id":"1"}` items took 1.5 GB.
    let version = "\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"t\"";
    let items: Vec<String> = (0..700_000)
        .map(|i| format!("{{\"id\":\"{i}\",\"content_text\":\"x\"}}"))
        .collect();
    let items = items.join(",");
    let feed = format!("{{{version},\"items\":[{items}]}}");
    let parsed = parse_within_bound("700,000 JSON items", feed.as_bytes()).expect("a feed");
    assert_eq!(parsed.items.len(), MAX_ITEMS);
    assert_eq!(parsed.items[3].guid.as_deref(), Some("3"));
    // The same without a version, and cut off: errors, within the bound.
    let feed = format!("{{\"title\":\"t\",\"items\":[{items}]}}");
    assert!(parse_within_bound("JSON without a version", feed.as_bytes()).is_err());
    let feed = format!("{{{version},\"items\":[{items}");
    assert!(parse_within_bound("truncated JSON", feed.as_bytes()).is_err());
    // One item of 2 million tags, and a member of 5 million numbers.
    let feed = format!(
        "{{{version},\"items\":[{{\"id\":\"1\",\"tags\":[{}\"x\"]}}]}}",
        "\"a\",".repeat(2_000_000)
    );
    let _ = parse_within_bound("2 million tags", feed.as_bytes());
    let feed = format!(
        "{{{version},\"x\":[{}0],\"items\":[{{\"id\":\"1\"}}]}}",
        "0,".repeat(5_000_000)
    );
    let parsed = parse_within_bound("5 million numbers", feed.as_bytes()).expect("a feed");
    assert_eq!(parsed.items.len(), 1);
}
