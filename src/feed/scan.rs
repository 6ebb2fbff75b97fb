//! Fields feed-rs drops, read from the document with quick-xml beside it:
//! RSS `<skipHours>`/`<skipDays>`, and per item its `media:thumbnail`
//! (feed-rs keeps one only beside a `media:content`) or `media:content`
//! image. Comments, CDATA, entities and namespace prefixes are the reader's
//! business, not a string search's.
//!
//! The scan reads the text before any repair, so the document may be
//! broken: the reader does not check end tags or ampersands, and what it
//! read before a syntax error (a truncated document) still counts.

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::SkipSchedule;

const MEDIA_RSS: &str = "http://search.yahoo.com/mrss/";
const RSS_1: &str = "http://purl.org/rss/1.0/";
const ATOM: &str = "http://www.w3.org/2005/Atom";

/// What feed-rs leaves out of a feed document.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    pub skip: SkipSchedule,
    /// Per item/entry, in document order: its first `media:thumbnail`, else
    /// its first `media:content` image.
    pub images: Vec<Option<String>>,
}

/// The elements the scan acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Item,
    Thumbnail,
    MediaContent,
    SkipHours,
    Hour,
    SkipDays,
    Day,
    Other,
}

impl Tag {
    fn of(ns: &ResolveResult, local: &str) -> Tag {
        // feed-rs reads elements in no namespace, or with a prefix nobody
        // declared, as the feed's own; RSS 1.0 (and 0.90, rewritten to it)
        // and Atom items are in their namespaces.
        let feed_own = match ns {
            ResolveResult::Unbound | ResolveResult::Unknown(_) => true,
            ResolveResult::Bound(Namespace(uri)) => *uri == RSS_1 || *uri == ATOM,
        };
        // An undeclared `media:` prefix is still meant as Media RSS.
        let media = match ns {
            ResolveResult::Bound(Namespace(uri)) => *uri == MEDIA_RSS,
            ResolveResult::Unknown(prefix) => prefix == "media",
            ResolveResult::Unbound => false,
        };
        match local {
            "item" | "entry" if feed_own => Tag::Item,
            "thumbnail" if media => Tag::Thumbnail,
            "content" if media => Tag::MediaContent,
            "skipHours" if feed_own => Tag::SkipHours,
            "hour" if feed_own => Tag::Hour,
            "skipDays" if feed_own => Tag::SkipDays,
            "day" if feed_own => Tag::Day,
            _ => Tag::Other,
        }
    }
}

/// The value of the unprefixed attribute `name`, entities resolved (the raw
/// value when they cannot be).
fn attribute(tag: &BytesStart, name: &str) -> Option<String> {
    let mut attributes = tag.attributes();
    attributes.with_checks(false);
    let attr = attributes
        .flatten()
        .find(|a| a.key.prefix().is_none() && a.key.local_name().as_ref() == name)?;
    let value = attr
        .normalized_value(XmlVersion::Implicit1_0)
        .map(|v| v.into_owned())
        .unwrap_or_else(|_| attr.value.to_string());
    Some(value)
}

fn is_image(tag: &BytesStart) -> bool {
    attribute(tag, "medium").is_some_and(|m| m.eq_ignore_ascii_case("image"))
        || attribute(tag, "type").is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"))
}

/// Where the reader is, as far as the scan cares.
#[derive(Default)]
struct State {
    scanned: Scanned,
    /// Per item, its first `media:content` image (used without a thumbnail).
    fallback: Vec<Option<String>>,
    in_item: bool,
    in_skip_hours: bool,
    in_skip_days: bool,
    /// The `<hour>` or `<day>` being read, and its text so far.
    field: Option<(Tag, String)>,
}

impl State {
    fn start(&mut self, tag: Tag, element: &BytesStart, empty: bool) {
        match tag {
            Tag::Item => {
                self.scanned.images.push(None);
                self.fallback.push(None);
                self.in_item = !empty;
            }
            Tag::Thumbnail if self.in_item => {
                if let (Some(slot @ None), Some(url)) =
                    (self.scanned.images.last_mut(), attribute(element, "url"))
                {
                    *slot = Some(url.trim().to_string());
                }
            }
            Tag::MediaContent if self.in_item && is_image(element) => {
                if let (Some(slot @ None), Some(url)) =
                    (self.fallback.last_mut(), attribute(element, "url"))
                {
                    *slot = Some(url.trim().to_string());
                }
            }
            Tag::SkipHours => self.in_skip_hours = !empty,
            Tag::SkipDays => self.in_skip_days = !empty,
            Tag::Hour if self.in_skip_hours && !empty => self.field = Some((tag, String::new())),
            Tag::Day if self.in_skip_days && !empty => self.field = Some((tag, String::new())),
            _ => {}
        }
    }

    fn end(&mut self, tag: Tag) {
        match tag {
            Tag::Item => self.in_item = false,
            Tag::SkipHours => self.in_skip_hours = false,
            Tag::SkipDays => self.in_skip_days = false,
            Tag::Hour | Tag::Day => {
                if let Some((field, text)) = self.field.take()
                    && field == tag
                {
                    self.field_read(field, text.trim());
                }
            }
            _ => {}
        }
    }

    fn field_read(&mut self, field: Tag, text: &str) {
        let skip = &mut self.scanned.skip;
        match field {
            // Some feeds write 24 for midnight.
            Tag::Hour => {
                if let Ok(hour @ 0..=24) = text.parse::<u32>() {
                    skip.hours |= 1 << (hour % 24);
                }
            }
            Tag::Day => {
                if let Ok(day) = text.parse::<chrono::Weekday>() {
                    skip.days |= 1 << day.num_days_from_monday();
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if let Some((_, buffer)) = self.field.as_mut() {
            buffer.push_str(text);
        }
    }

    fn finish(self) -> Scanned {
        let mut scanned = self.scanned;
        for (image, fallback) in scanned.images.iter_mut().zip(self.fallback) {
            if image.is_none() {
                *image = fallback;
            }
        }
        scanned
    }
}

/// Reads the skip schedule and the item images of an XML feed document.
pub fn scan(text: &str) -> Scanned {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    let mut state = State::default();
    loop {
        let before = reader.buffer_position();
        let read = reader.read_resolved_event().map(|(ns, event)| {
            let tag = match &event {
                Event::Start(e) | Event::Empty(e) => Tag::of(&ns, e.local_name().as_ref()),
                Event::End(e) => Tag::of(&ns, e.local_name().as_ref()),
                _ => Tag::Other,
            };
            (tag, event)
        });
        let (tag, event) = match read {
            Ok(read) => read,
            // Ill-formed markup (a declaration without a version, say) is
            // skipped; a syntax error (a tag cut off at the end) ends the scan.
            Err(quick_xml::Error::IllFormed(_)) if reader.buffer_position() > before => continue,
            Err(_) => break,
        };
        match event {
            Event::Start(e) => state.start(tag, &e, false),
            Event::Empty(e) => state.start(tag, &e, true),
            Event::End(_) => state.end(tag),
            Event::Text(t) => state.text(&t),
            Event::CData(t) => state.text(&t),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => state.text(c.encode_utf8(&mut [0; 4])),
                _ => {
                    if let Some(resolved) = quick_xml::escape::resolve_predefined_entity(&r) {
                        state.text(resolved);
                    }
                }
            },
            Event::Eof => break,
            _ => {}
        }
    }
    state.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(body: &str) -> SkipSchedule {
        scan(&format!("<rss><channel>{body}</channel></rss>")).skip
    }

    fn images(doc: &str) -> Vec<Option<String>> {
        scan(doc).images
    }

    const MEDIA: &str = "xmlns:media=\"http://search.yahoo.com/mrss/\"";

    #[test]
    fn skip_hours_and_days() {
        let s = skip(
            "<skipHours><hour>0</hour><hour> 7 </hour><hour>24</hour><hour>25</hour></skipHours>\
             <skipDays><day>Saturday</day><day>sunday</day><day>Caturday</day></skipDays>",
        );
        assert_eq!(s.hours, (1 << 0) | (1 << 7));
        assert_eq!(s.days, (1 << 5) | (1 << 6));
        assert_eq!(skip("<title>t</title>"), SkipSchedule::default());
    }

    #[test]
    fn skip_schedule_is_read_as_xml() {
        // A string search took the commented-out block and missed the one
        // with an attribute, and read `<![CDATA[5]]>` as text.
        assert_eq!(
            skip(
                "<!-- <skipHours><hour>3</hour></skipHours> --><skipHours kind=\"gmt\"><hour><![CDATA[5]]></hour><hour>&#54;</hour></skipHours>"
            ),
            SkipSchedule {
                hours: (1 << 5) | (1 << 6),
                days: 0
            }
        );
        // An element named like one, in CDATA or in another namespace, is not one.
        assert_eq!(
            skip(
                "<description><![CDATA[<skipDays><day>Monday</day></skipDays>]]></description><x:skipDays xmlns:x=\"urn:x\"><x:day>Friday</x:day></x:skipDays>"
            ),
            SkipSchedule::default()
        );
        // An `<hour>` outside `<skipHours>` is not a skipped hour.
        assert_eq!(
            skip("<hour>4</hour><skipHours/><hour>5</hour>"),
            SkipSchedule::default()
        );
    }

    #[test]
    fn thumbnails_per_item_with_content_images_as_fallback() {
        let doc = format!(
            "<rss {MEDIA}><channel><media:thumbnail url=\"https://x/channel.jpg\"/>\
             <item><media:content url=\"https://x/c1.jpg\" medium=\"image\"/><media:thumbnail url=\" https://x/t1.jpg \"/><media:thumbnail url=\"https://x/t1b.jpg\"/></item>\
             <item><media:content url=\"https://x/v.mp4\" type=\"video/mp4\"/><media:content url=\"https://x/c2.jpg\" type=\"IMAGE/JPEG\"/></item>\
             <item/>\
             <item><title>none</title></item></channel></rss>"
        );
        assert_eq!(
            images(&doc),
            [
                Some("https://x/t1.jpg".to_string()),
                Some("https://x/c2.jpg".to_string()),
                None,
                None
            ]
        );
    }

    #[test]
    fn images_are_read_as_xml() {
        // A prefix other than `media`, entities in the attribute, a
        // thumbnail in a comment or CDATA, and `item` in another namespace.
        let doc = "<rss xmlns:m=\"http://search.yahoo.com/mrss/\" xmlns:x=\"urn:x\"><channel>\
             <item><!-- <m:thumbnail url=\"https://x/commented.jpg\"/> -->\
             <description><![CDATA[<media:thumbnail url=\"https://x/cdata.jpg\"/>]]></description>\
             <m:thumbnail url=\"https://x/a.jpg?w=1&amp;h=2\"/></item>\
             <x:item><m:thumbnail url=\"https://x/other.jpg\"/></x:item>\
             <item><media:thumbnail xmlns:media=\"urn:not-media\" url=\"https://x/no.jpg\"/></item>\
             </channel></rss>";
        assert_eq!(
            images(doc),
            [Some("https://x/a.jpg?w=1&h=2".to_string()), None]
        );
    }

    #[test]
    fn atom_entries_and_undeclared_prefixes() {
        // Atom entries, prefixed or not; an undeclared `media:` prefix, as
        // some feeds write it, still counts.
        let doc = "<feed xmlns=\"http://www.w3.org/2005/Atom\" xmlns:a=\"http://www.w3.org/2005/Atom\">\
             <entry><media:thumbnail url=\"https://x/1.jpg\"/></entry>\
             <a:entry><id>2</id></a:entry></feed>";
        assert_eq!(images(doc), [Some("https://x/1.jpg".to_string()), None]);
    }

    #[test]
    fn broken_documents_are_read_up_to_the_break() {
        // A stray ampersand and a mismatched end tag are read past; a
        // document cut off inside a tag keeps what came before.
        let doc = format!(
            "<rss {MEDIA}><channel><skipHours><hour>1</hour></skipHours>\
             <item><title>A & B</b></title><media:thumbnail url=\"https://x/1.jpg\"/></item>\
             <item><media:thumbnail url=\"https://x/2.jpg\"/></item><item><media:thumb"
        );
        let scanned = scan(&doc);
        assert_eq!(scanned.skip.hours, 1 << 1);
        assert_eq!(
            scanned.images,
            [
                Some("https://x/1.jpg".to_string()),
                Some("https://x/2.jpg".to_string()),
                None
            ]
        );
    }
}
