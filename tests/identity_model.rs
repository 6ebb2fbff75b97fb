//! A stateful property test of story identity and the store, against a small
//! model: random sequences of feed documents (new items, edits, guid and link
//! variants, items scrolling away), broker outcomes and crashes. At the end,
//! every distinct story has been published with its newest version, no two
//! stories were merged or one split, and nothing was re-sent without a
//! change (a re-send of the same message after a lost confirm keeps its
//! `message_id` and body).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use feedwire::dedup::identify;
use feedwire::feed::FeedItem;
use feedwire::message::{ArticleEvent, Envelope, ExtractionStatus, message_id};
use feedwire::store::{
    Claimant, DiscoveredItem, PendingMessage, SqliteStore, Store, StoryTask, StoryWork,
};
use proptest::prelude::*;

/// How a true story is written in the feeds of its site.
#[derive(Clone, Copy, Debug)]
enum Site {
    /// BBC: the same page in two feeds, tracking parameters in the link, a
    /// guid `URL#n` that differs per feed, sometimes listed twice.
    News,
    /// Guids `1`, `2`, `3` and no link; another site uses the same guids.
    BareGuidsB,
    BareGuidsC,
    /// Every incident links to the same status page; guids tell them apart.
    Status,
    /// Posts of one live page: the link's fragment tells them apart.
    LiveBlog,
}

struct FeedDef {
    id: &'static str,
    site: Site,
    stories: Vec<usize>,
}

fn feeds() -> Vec<FeedDef> {
    vec![
        FeedDef {
            id: "news-world",
            site: Site::News,
            stories: vec![0, 1, 2, 3],
        },
        FeedDef {
            id: "news-uk",
            site: Site::News,
            stories: vec![2, 3, 4, 5],
        },
        FeedDef {
            id: "site-b",
            site: Site::BareGuidsB,
            stories: vec![6, 7, 8],
        },
        FeedDef {
            id: "site-c",
            site: Site::BareGuidsC,
            stories: vec![9, 10, 11],
        },
        FeedDef {
            id: "status",
            site: Site::Status,
            stories: vec![12, 13, 14],
        },
        FeedDef {
            id: "live",
            site: Site::LiveBlog,
            stories: vec![15, 16, 17],
        },
    ]
}
const STORIES: usize = 18;

fn render(feed_index: usize, feed: &FeedDef, story: usize, version: u32) -> FeedItem {
    let title = format!("S{story} v{version}");
    let (link, guid) = match feed.site {
        Site::News => {
            let tracking = ["?at_medium=RSS&at_campaign=rss", "?utm_source=rss"][feed_index % 2];
            (
                Some(format!("https://news.example/articles/{story}{tracking}")),
                Some(format!(
                    "https://news.example/articles/{story}#{feed_index}"
                )),
            )
        }
        Site::BareGuidsB | Site::BareGuidsC => (None, Some(format!("{}", story % 3 + 1))),
        Site::Status => (
            Some("https://status.example/".to_string()),
            Some(format!("incident-{story}")),
        ),
        Site::LiveBlog => (
            Some(format!("https://news.example/live#post-{story}")),
            None,
        ),
    };
    FeedItem {
        summary: Some(format!("About story {story}.")),
        title: Some(title),
        link,
        guid,
        ..FeedItem::default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Confirmed and routed.
    Ack,
    /// Nacked, returned, timed out or the connection dropped before the
    /// broker took it: not delivered.
    Refused,
    /// The broker took it but the confirm was lost: delivered, not marked.
    ConfirmLost,
    /// Confirmed, then the process died before marking it.
    AckThenCrash,
}

#[derive(Clone, Debug)]
enum Op {
    Poll(usize),
    Edit(usize),
    /// Shows `len` items of the feed from `start`.
    Scroll(usize, usize, usize),
    /// Also lists the first visible item a second time (BBC does).
    ToggleRepeat(usize),
    Process(usize, Outcome),
    Sweep,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        6 => Just(Outcome::Ack),
        2 => Just(Outcome::Refused),
        1 => Just(Outcome::ConfirmLost),
        1 => Just(Outcome::AckThenCrash),
    ];
    prop_oneof![
        4 => (0..6usize).prop_map(Op::Poll),
        3 => (0..STORIES).prop_map(Op::Edit),
        2 => (0..6usize, 0..4usize, 1..4usize).prop_map(|(f, s, l)| Op::Scroll(f, s, l)),
        1 => (0..6usize).prop_map(Op::ToggleRepeat),
        6 => (0..64usize, outcome).prop_map(|(i, o)| Op::Process(i, o)),
        1 => Just(Op::Sweep),
        1 => Just(Op::Crash),
    ]
}

/// One message as the broker received it.
#[derive(Debug, Clone)]
struct Sent {
    message_id: String,
    story_id: String,
    revision: u32,
    title: String,
}

struct World {
    feeds: Vec<FeedDef>,
    windows: Vec<(usize, usize)>,
    repeat: Vec<bool>,
    versions: Vec<u32>,
    path: PathBuf,
    store: SqliteStore,
    /// Runs the store's async calls; the model itself is sequential.
    rt: tokio::runtime::Runtime,
    /// The running process (a crash starts another one).
    claimant: Claimant,
    /// Stories held by workers, by story id (a story is never held twice).
    queue: BTreeMap<String, StoryWork>,
    sent: Vec<Sent>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.db");
        let feeds = feeds();
        World {
            windows: feeds.iter().map(|f| (0, f.stories.len())).collect(),
            repeat: vec![false; feeds.len()],
            versions: vec![0; STORIES],
            store: SqliteStore::open(&path).unwrap(),
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            claimant: Claimant::new("model", 1, std::time::Duration::from_secs(600)),
            feeds,
            path,
            queue: BTreeMap::new(),
            sent: Vec::new(),
            _dir: dir,
        }
    }

    fn hold(&mut self, work: StoryWork) {
        self.queue
            .entry(work.story_id().to_string())
            .or_insert(work);
    }

    fn poll(&mut self, index: usize) {
        let feed = &self.feeds[index];
        let (start, len) = self.windows[index];
        let shown: Vec<usize> = feed.stories.iter().copied().skip(start).take(len).collect();
        let mut items: Vec<FeedItem> = shown
            .iter()
            .map(|&s| render(index, feed, s, self.versions[s]))
            .collect();
        if self.repeat[index] && matches!(feed.site, Site::News) && !items.is_empty() {
            let mut again = items[0].clone();
            again.guid = again.guid.map(|g| g.replace(&format!("#{index}"), "#8"));
            again.title = again.title.map(|t| format!("{t} (reworded)"));
            items.push(again);
        }
        let document = identify(feed.id, &items);
        let discovered: Vec<DiscoveredItem> = document
            .stories
            .iter()
            .map(|(i, identity)| DiscoveredItem::new(identity.clone(), &items[*i]))
            .collect();
        let tasks = self
            .rt
            .block_on(self.store.record_items(
                &self.claimant,
                feed.id,
                &discovered,
                &document.ambiguous,
            ))
            .unwrap();
        for task in tasks {
            self.hold(StoryWork::Process(Box::new(task)));
        }
    }

    fn process(&mut self, pick: usize, outcome: Outcome) {
        let Some(story_id) = self
            .queue
            .keys()
            .nth(pick % self.queue.len().max(1))
            .cloned()
        else {
            return;
        };
        let work = self.queue.remove(&story_id).unwrap();
        let envelope = match work {
            StoryWork::Republish(envelope) => envelope,
            StoryWork::Process(task) => match self.build(*task) {
                Some(envelope) => envelope,
                None => return,
            },
        };
        self.deliver(envelope, outcome);
    }

    /// What the pipeline builds: the title is the content.
    fn build(&mut self, task: StoryTask) -> Option<Envelope> {
        let title = task.item.title.clone().unwrap_or_default();
        let hash = format!("h:{title}");
        if task.published_revision > 0 && task.published_hash.as_deref() == Some(hash.as_str()) {
            if let Some(next) = self
                .rt
                .block_on(self.store.mark_unchanged(&task.story_id, task.item_version))
                .unwrap()
            {
                self.hold(StoryWork::Process(Box::new(next)));
            }
            return None;
        }
        let revision = task.published_revision + 1;
        let envelope = Envelope {
            message_id: message_id(&task.story_id, revision),
            story_id: task.story_id.clone(),
            revision,
            event: if revision == 1 {
                ArticleEvent::Created
            } else {
                ArticleEvent::Updated
            },
            routing_key: format!("article.{}", task.feed_id),
            timestamp: 0,
            body: title.into_bytes(),
        };
        self.rt
            .block_on(self.store.save_pending(&PendingMessage {
                envelope: envelope.clone(),
                content_hash: hash,
                status: ExtractionStatus::Ok,
                item_version: task.item_version,
            }))
            .unwrap();
        Some(envelope)
    }

    fn deliver(&mut self, envelope: Envelope, outcome: Outcome) {
        let sent = Sent {
            message_id: envelope.message_id.clone(),
            story_id: envelope.story_id.clone(),
            revision: envelope.revision,
            title: String::from_utf8(envelope.body.clone()).unwrap(),
        };
        match outcome {
            // The worker lets go of it; a later sweep takes it up again.
            Outcome::Refused => self
                .rt
                .block_on(self.store.release(&envelope.story_id, now()))
                .unwrap(),
            // The broker took it, the worker never heard: it lets go of the
            // story, and a later sweep sends the same message again.
            Outcome::ConfirmLost => {
                self.sent.push(sent);
                self.rt
                    .block_on(self.store.release(&envelope.story_id, now()))
                    .unwrap();
            }
            Outcome::AckThenCrash => {
                self.sent.push(sent);
                self.crash();
            }
            Outcome::Ack => {
                self.sent.push(sent);
                if let Some(next) = self
                    .rt
                    .block_on(
                        self.store
                            .mark_published(&envelope.story_id, envelope.revision),
                    )
                    .unwrap()
                {
                    self.hold(StoryWork::Process(Box::new(next)));
                }
            }
        }
    }

    fn sweep(&mut self) {
        let claimed = self
            .rt
            .block_on(
                self.store
                    .claim_unfinished(&self.claimant, now(), 10_000, true),
            )
            .unwrap();
        for work in claimed {
            self.hold(work);
        }
    }

    /// The process dies; the next one on this host releases what it held.
    fn crash(&mut self) {
        self.queue.clear();
        self.store = SqliteStore::open(&self.path).unwrap();
        self.rt
            .block_on(self.store.sign_off(&self.claimant.id))
            .unwrap();
        self.claimant = Claimant::new("model", self.claimant.pid + 1, self.claimant.lease);
        self.sweep();
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Poll(feed) => self.poll(feed),
            Op::Edit(story) => self.versions[story] += 1,
            Op::Scroll(feed, start, len) => self.windows[feed] = (start, len),
            Op::ToggleRepeat(feed) => self.repeat[feed] = !self.repeat[feed],
            Op::Process(pick, outcome) => self.process(pick, outcome),
            Op::Sweep => self.sweep(),
            Op::Crash => self.crash(),
        }
    }

    /// Every feed shows everything once more, and every story is worked
    /// until the store has nothing unfinished.
    fn settle(&mut self) {
        for index in 0..self.feeds.len() {
            self.windows[index] = (0, self.feeds[index].stories.len());
            self.poll(index);
        }
        for _ in 0..100 {
            self.sweep();
            if self.queue.is_empty() {
                return;
            }
            while !self.queue.is_empty() {
                self.process(0, Outcome::Ack);
            }
        }
        panic!(
            "the store never settled: {:?}",
            self.rt.block_on(self.store.unfinished(i64::MAX)).unwrap()
        );
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn true_story(title: &str) -> (usize, u32) {
    let (story, version) = title.trim_start_matches('S').split_once(" v").unwrap();
    let version = version.split_whitespace().next().unwrap();
    (story.parse().unwrap(), version.parse().unwrap())
}

fn check(world: &World) -> Result<(), TestCaseError> {
    let mut stories_of_id: HashMap<&str, HashSet<usize>> = HashMap::new();
    let mut ids_of_story: HashMap<usize, HashSet<&str>> = HashMap::new();
    let mut body_of_message: HashMap<&str, &str> = HashMap::new();
    for sent in &world.sent {
        let (story, _) = true_story(&sent.title);
        stories_of_id
            .entry(&sent.story_id)
            .or_default()
            .insert(story);
        ids_of_story
            .entry(story)
            .or_default()
            .insert(&sent.story_id);
        let body = body_of_message
            .entry(&sent.message_id)
            .or_insert(&sent.title);
        prop_assert_eq!(*body, sent.title.as_str(), "one message_id, two bodies");
    }
    for (id, stories) in &stories_of_id {
        prop_assert_eq!(stories.len(), 1, "story {} merges {:?}", id, stories);
    }
    for story in 0..STORIES {
        let ids = ids_of_story.get(&story).cloned().unwrap_or_default();
        prop_assert_eq!(ids.len(), 1, "story {} published under {:?}", story, ids);
        let id = *ids.iter().next().unwrap();
        let mut revisions: Vec<&Sent> = world.sent.iter().filter(|s| s.story_id == id).collect();
        revisions.sort_by_key(|s| s.revision);
        revisions.dedup_by_key(|s| s.revision);
        let newest = revisions.last().unwrap();
        prop_assert_eq!(
            true_story(&newest.title),
            (story, world.versions[story]),
            "story {} ends at {:?}",
            story,
            newest.title
        );
        for pair in revisions.windows(2) {
            prop_assert_eq!(pair[1].revision, pair[0].revision + 1);
            prop_assert_ne!(&pair[0].title, &pair[1].title, "re-sent without a change");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_story_once_newest_last_none_merged(ops in proptest::collection::vec(op(), 1..80)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.settle();
        check(&world)?;
    }
}
