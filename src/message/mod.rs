//! The article message, version 1: what consumers read off the exchange.
//!
//! Its JSON Schema is `schema/article.v1.json`; a test checks real output
//! against it. Fields the worker does not know are `null`, never invented.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::extract::{Access, ExtractionMethod};
use crate::fetch::BlockKind;

mod compose;
pub mod language;

pub use compose::{Draft, PageOutcome, compose};
pub use language::LanguageSource;

pub const SCHEMA_V1: &str = "feedwire.article.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleEvent {
    Created,
    Updated,
}

impl ArticleEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleEvent::Created => "created",
            ArticleEvent::Updated => "updated",
        }
    }

    pub fn parse(text: &str) -> Option<ArticleEvent> {
        [ArticleEvent::Created, ArticleEvent::Updated]
            .into_iter()
            .find(|e| e.as_str() == text)
    }

    /// The AMQP `type` property.
    pub fn amqp_type(self) -> &'static str {
        match self {
            ArticleEvent::Created => "article.created",
            ArticleEvent::Updated => "article.updated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractionStatus {
    /// Main text extracted from the article page.
    Ok,
    /// The page was fetched but yielded no main text; text is the feed's.
    Empty,
    /// The page could not be fetched; text is the feed's summary.
    Failed,
    /// Full-text fetching is off for this feed; text is the feed's.
    Skipped,
    /// The site answered with an anti-bot challenge or a consent wall
    /// (named in `Extraction::blocked_by`); text is the feed's.
    Blocked,
}

impl ExtractionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExtractionStatus::Ok => "ok",
            ExtractionStatus::Empty => "empty",
            ExtractionStatus::Failed => "failed",
            ExtractionStatus::Skipped => "skipped",
            ExtractionStatus::Blocked => "blocked",
        }
    }

    pub fn parse(text: &str) -> Option<ExtractionStatus> {
        [
            ExtractionStatus::Ok,
            ExtractionStatus::Empty,
            ExtractionStatus::Failed,
            ExtractionStatus::Skipped,
            ExtractionStatus::Blocked,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether text obtained this way is at least as good as text obtained
    /// `other`'s way: the page's own text beats any feed text, so a blocked
    /// fetch (feed text) never replaces a published page's text.
    pub fn at_least_as_good_as(self, other: ExtractionStatus) -> bool {
        self == ExtractionStatus::Ok || other != ExtractionStatus::Ok
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub status: ExtractionStatus,
    /// How the text was found (`site_rule`, `json_ld`, ...); none when
    /// there is no text.
    pub method: Option<ExtractionMethod>,
    /// What blocked the page when the status is `blocked`, else none.
    /// Added to v1 later: absent from older messages.
    #[serde(default)]
    pub blocked_by: Option<BlockKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRef {
    pub id: String,
    pub url: String,
    pub title: Option<String>,
}

/// The earlier story a story's text is a near-duplicate of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateOf {
    /// The earlier story's id.
    pub id: String,
    /// Its URL, when it has one.
    pub url: Option<String>,
    /// Estimated share of the shorter text found in the longer (0 to 1).
    pub similarity: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleMessage {
    pub schema: String,
    /// Stable story id: the same across feeds, restarts and revisions.
    pub id: String,
    pub event: ArticleEvent,
    /// 1 for the first publication, +1 for every change of title or text.
    pub revision: u32,
    pub url: String,
    pub title: Option<String>,
    pub text: String,
    pub summary: Option<String>,
    pub authors: Vec<String>,
    #[serde(with = "rfc3339_opt")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub fetched_at: DateTime<Utc>,
    /// As the page declares it (BCP 47, its casing normalised), else
    /// detected from the text (ISO 639-1), else none.
    pub language: Option<String>,
    /// Added to v1 later: absent from older messages.
    #[serde(default)]
    pub language_source: Option<LanguageSource>,
    pub image: Option<String>,
    pub feed: FeedRef,
    pub guid: Option<String>,
    pub content_hash: String,
    pub word_count: u32,
    /// Whether the page declares the article free or paywalled; a
    /// paywalled page's text is what it showed, perhaps only a teaser.
    /// Added to v1 later: `unknown` for older messages.
    #[serde(default)]
    pub access: Access,
    pub extraction: Extraction,
    /// The earlier story whose text this one's nearly repeats (another
    /// source's copy), `null` when none. Added to v1: absent from messages
    /// published before it.
    #[serde(default)]
    pub duplicate_of: Option<DuplicateOf>,
    /// The id of the first story of the copies this one belongs to: its own
    /// id unless it is a duplicate. Added to v1: absent before it.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl ArticleMessage {
    /// The AMQP `message_id`: unique per (story, revision) and the same on
    /// every re-send, so consumers can drop duplicates.
    pub fn message_id(&self) -> String {
        message_id(&self.id, self.revision)
    }
}

pub fn message_id(story_id: &str, revision: u32) -> String {
    format!("{story_id}-r{revision}")
}

pub fn word_count(text: &str) -> u32 {
    text.split_whitespace().count().min(u32::MAX as usize) as u32
}

/// A serialized message ready for the sink, with its AMQP properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub story_id: String,
    pub revision: u32,
    pub message_id: String,
    pub event: ArticleEvent,
    pub routing_key: String,
    /// Unix seconds, the AMQP `timestamp` property.
    pub timestamp: i64,
    pub body: Vec<u8>,
}

impl Envelope {
    pub fn new(message: &ArticleMessage, routing_key: String) -> Envelope {
        Envelope {
            story_id: message.id.clone(),
            revision: message.revision,
            message_id: message.message_id(),
            event: message.event,
            routing_key,
            timestamp: message.fetched_at.timestamp(),
            body: serde_json::to_vec(message).expect("an article message always serializes"),
        }
    }
}

mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod rfc3339_opt {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> ArticleMessage {
        ArticleMessage {
            schema: SCHEMA_V1.into(),
            id: "0123456789abcdef0123456789abcdef".into(),
            event: ArticleEvent::Created,
            revision: 1,
            url: "https://www.bbc.co.uk/news/articles/c1".into(),
            title: Some("Title".into()),
            text: "First paragraph.\n\nSecond paragraph.".into(),
            summary: None,
            authors: vec![],
            published_at: Some("2026-01-02T03:04:05Z".parse().unwrap()),
            updated_at: None,
            fetched_at: "2026-01-02T04:00:00Z".parse().unwrap(),
            language: Some("en-GB".into()),
            language_source: Some(LanguageSource::Declared),
            image: None,
            feed: FeedRef {
                id: "bbc-world".into(),
                url: "https://feeds.bbci.co.uk/news/world/rss.xml".into(),
                title: None,
            },
            guid: Some("https://www.bbc.co.uk/news/articles/c1#0".into()),
            content_hash: "sha256:00ff".into(),
            word_count: 4,
            access: Access::Free,
            extraction: Extraction {
                status: ExtractionStatus::Ok,
                method: Some(ExtractionMethod::SiteRule),
                blocked_by: None,
            },
            duplicate_of: None,
            cluster: Some("0123456789abcdef0123456789abcdef".into()),
        }
    }

    #[test]
    fn serializes_nulls_and_utc_times() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["schema"], "feedwire.article.v1");
        assert_eq!(json["event"], "created");
        assert_eq!(json["published_at"], "2026-01-02T03:04:05Z");
        assert!(json["updated_at"].is_null());
        assert!(json["summary"].is_null());
        assert_eq!(json["extraction"]["status"], "ok");
        let back: ArticleMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn message_id_is_per_revision() {
        let mut m = sample();
        let first = m.message_id();
        assert_eq!(first, m.message_id());
        m.revision = 2;
        assert_ne!(first, m.message_id());
        assert_eq!(word_count("a  b\n\nc"), 3);
    }

    #[test]
    fn schema_file_accepts_sample() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/article.v1.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let value = serde_json::to_value(sample()).unwrap();
        assert!(validator.is_valid(&value));
        let mut broken = value.clone();
        broken["revision"] = serde_json::json!(0);
        assert!(!validator.is_valid(&broken));
        let mut broken = value.clone();
        broken.as_object_mut().unwrap().remove("text");
        assert!(!validator.is_valid(&broken));
        // The fields added to v1 are optional: messages published before
        // them still validate, and they are checked when present.
        let mut before = value.clone();
        before.as_object_mut().unwrap().remove("duplicate_of");
        before.as_object_mut().unwrap().remove("cluster");
        assert!(validator.is_valid(&before));
        let back: ArticleMessage = serde_json::from_value(before).unwrap();
        assert_eq!((back.duplicate_of, back.cluster), (None, None));
        let mut copy = sample();
        copy.duplicate_of = Some(DuplicateOf {
            id: "fedcba9876543210fedcba9876543210".into(),
            url: Some("https://www.bbc.co.uk/news/articles/c0".into()),
            similarity: 0.93,
        });
        copy.cluster = Some("fedcba9876543210fedcba9876543210".into());
        assert!(validator.is_valid(&serde_json::to_value(&copy).unwrap()));
        let mut broken = serde_json::to_value(&copy).unwrap();
        broken["duplicate_of"]["similarity"] = serde_json::json!(1.5);
        assert!(!validator.is_valid(&broken));
        let mut broken = value;
        broken["cluster"] = serde_json::json!("not-an-id");
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn the_new_fields_are_optional_on_the_way_in() {
        let mut json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["language_source"], "declared");
        assert_eq!(json["access"], "free");
        assert!(json["extraction"]["blocked_by"].is_null());
        // A message from before they existed still reads.
        let object = json.as_object_mut().unwrap();
        object.remove("language_source");
        object.remove("access");
        object["extraction"]
            .as_object_mut()
            .unwrap()
            .remove("blocked_by");
        let old: ArticleMessage = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(old.access, Access::Unknown);
        assert_eq!(old.language_source, None);
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/article.v1.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&json), "an older message is still valid");
    }

    #[test]
    fn blocked_never_replaces_page_text() {
        use ExtractionStatus::*;
        assert!(!Blocked.at_least_as_good_as(Ok));
        assert!(Ok.at_least_as_good_as(Blocked));
        // Feed text for feed text: as good.
        for other in [Failed, Empty, Skipped, Blocked] {
            assert!(Blocked.at_least_as_good_as(other));
            assert!(other.at_least_as_good_as(Blocked));
        }
        assert_eq!(ExtractionStatus::parse("blocked"), Some(Blocked));
    }

    #[test]
    fn schema_checks_blocked_and_its_reason() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/article.v1.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for kind in BlockKind::ALL {
            let mut message = sample();
            message.extraction = Extraction {
                status: ExtractionStatus::Blocked,
                method: Some(ExtractionMethod::FeedSummary),
                blocked_by: Some(kind),
            };
            message.access = Access::Unknown;
            message.language_source = Some(LanguageSource::Detected);
            let value = serde_json::to_value(&message).unwrap();
            assert!(validator.is_valid(&value), "{kind:?} is not in the schema");
            assert_eq!(value["extraction"]["blocked_by"], kind.as_str());
        }
        // Blocked without a reason, or a reason on a page that was not
        // blocked, is not a valid message.
        let mut message = sample();
        message.extraction.status = ExtractionStatus::Blocked;
        assert!(!validator.is_valid(&serde_json::to_value(&message).unwrap()));
        let mut message = sample();
        message.extraction.blocked_by = Some(BlockKind::ConsentWall);
        assert!(!validator.is_valid(&serde_json::to_value(&message).unwrap()));
        let mut value = serde_json::to_value(sample()).unwrap();
        value["access"] = serde_json::json!("maybe");
        assert!(!validator.is_valid(&value));
    }

    #[test]
    fn schema_names_every_extraction_method() {
        use ExtractionMethod::*;
        let all = [SiteRule, JsonLd, Readability, FeedContent, FeedSummary];
        // A new method fails to compile here until it is listed (and the
        // schema then has to name it).
        for method in all {
            match method {
                SiteRule | JsonLd | Readability | FeedContent | FeedSummary => {}
            }
        }
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/article.v1.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for method in all {
            let mut message = sample();
            message.extraction.method = Some(method);
            let value = serde_json::to_value(&message).unwrap();
            assert!(
                validator.is_valid(&value),
                "{method:?} is not in the schema"
            );
        }
    }
}
