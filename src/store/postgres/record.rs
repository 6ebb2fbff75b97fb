//! Recording a poll's items: identity keys, sightings per feed, new stories
//! and changed ones — the SQLite store's algorithm, over rows read at once.
//!
//! One REPEATABLE READ transaction in two round trips: the keys, sightings
//! and stories the items may touch are read together, the items are worked
//! through in memory exactly as the SQLite store does statement by
//! statement, and the writes go out together with the COMMIT. A poll that
//! changes nothing ends after the reads (one round trip).
//!
//! Two workers recording the same story at once (two feeds carrying it,
//! a backfill beside the live worker): the first to commit creates it.
//! Every key, sighting and story the second writes is one it read as
//! absent or unchanged; under REPEATABLE READ, PostgreSQL refuses such a
//! write when another transaction wrote that row after the read (a
//! serialization failure, also for `ON CONFLICT DO NOTHING` against a row
//! it cannot see), and the whole call runs again (`retrying`): it then
//! finds the story by its key and records a sighting, as if the two had
//! come one after the other. Unique keys make a second story for one key
//! impossible even then.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio_postgres::Row;

use super::PostgresStore;
use super::stories::{RECORD_COLUMNS, record_of, task_of};
use super::wire::{COMMIT, Step, now_ms};
use crate::dedup::{Sighting, StoryIdentity, story_id_for_key};
use crate::store::{Claimant, DiscoveredItem, StoreError, StoryRecord, StoryTask};

const BEGIN_REPEATABLE_READ: Step<'static> = Step::Text("BEGIN ISOLATION LEVEL REPEATABLE READ");

const READ_KEYS: &str = "SELECT key, story_id FROM story_keys WHERE key = ANY($1)";
const READ_SIGHTINGS: &str = "SELECT story_id, fingerprint, guid, fragment, body FROM sightings
     WHERE feed_id = $1 AND (story_id = ANY($2)
        OR story_id IN (SELECT story_id FROM story_keys WHERE key = ANY($3)))";
const READ_STORIES: &str = "SELECT id FROM stories WHERE id = ANY($1)";
const MARK_AMBIGUOUS: &str = "INSERT INTO story_keys (key, story_id)
     SELECT k, '' FROM unnest($1::text[]) AS k
     ON CONFLICT (key) DO UPDATE SET story_id = ''";
const INSERT_KEYS: &str = "INSERT INTO story_keys (key, story_id)
     SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (key) DO NOTHING";
const UPSERT_SIGHTINGS: &str =
    "INSERT INTO sightings (feed_id, story_id, fingerprint, guid, fragment, body)
     SELECT $1, u.story_id, u.fingerprint, u.guid, u.fragment, u.body
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS u(story_id, fingerprint, guid, fragment, body)
     ON CONFLICT (feed_id, story_id) DO UPDATE SET fingerprint = excluded.fingerprint,
        guid = excluded.guid, fragment = excluded.fragment, body = excluded.body";
const INSERT_STORIES: &str = "INSERT INTO stories (id, state, feed_id, url, item, first_seen_ms,
        changed_ms, lease_owner, lease_until)
     SELECT u.id, 'discovered', $1, u.url, u.item, $2, $2, $3, $4
     FROM unnest($5::text[], $6::text[], $7::text[]) AS u(id, url, item)
     ON CONFLICT (id) DO NOTHING
     RETURNING id";
/// This feed's item changed. A finished story opens again, claimed by this
/// worker; one in progress keeps the new item, and opens again once the
/// message being delivered (built from the old one) is confirmed; one
/// waiting unclaimed is taken up with its new item.
const REOPEN: &str = "UPDATE stories s SET feed_id = $1, item = u.item, changed_ms = $2,
        item_version = s.item_version + 1,
        state = CASE s.state WHEN 'published' THEN 'discovered' ELSE s.state END,
        lease_owner = CASE WHEN s.state = 'published' OR (s.state = 'discovered'
            AND (s.lease_until IS NULL OR s.lease_until < $2)) THEN $3 ELSE s.lease_owner END,
        lease_until = CASE WHEN s.state = 'published' OR (s.state = 'discovered'
            AND (s.lease_until IS NULL OR s.lease_until < $2)) THEN $4 ELSE s.lease_until END
     FROM unnest($5::text[], $6::text[]) AS u(id, item)
     WHERE s.id = u.id
     RETURNING s.id, s.feed_id, s.item, s.url, s.item_version, s.revision, s.content_hash,
        s.status, s.state, s.lease_owner";

#[derive(Clone)]
struct Seen {
    fingerprint: String,
    guid: Option<String>,
    fragment: Option<String>,
    body: Option<String>,
}

impl Seen {
    fn sighting(&self) -> Sighting<'_> {
        Sighting {
            fingerprint: &self.fingerprint,
            guid: self.guid.as_deref(),
            fragment: self.fragment.as_deref(),
            body: self.body.as_deref(),
        }
    }
}

/// The rows the transaction read, with its own writes laid over them.
struct View {
    /// key → story id, '' for a key that names several stories.
    keys: HashMap<String, String>,
    /// story id → this feed's sighting of it.
    sightings: HashMap<String, Seen>,
    /// Story ids that exist, of those the items could be given.
    stories: HashSet<String>,
}

/// The story one of an identity's keys names (and that key), or the id a
/// new story of this identity gets.
struct Found {
    story: Option<(String, String)>,
    new_id: String,
}

impl View {
    /// As the SQLite store's `find_story`: ambiguous keys are skipped, for
    /// matching and for the new id.
    fn find(&self, identity: &StoryIdentity) -> Found {
        let mut first_usable = None;
        for key in identity.all_keys() {
            match self.keys.get(key) {
                Some(id) if id.is_empty() => continue,
                Some(id) => {
                    return Found {
                        new_id: id.clone(),
                        story: Some((id.clone(), key.to_string())),
                    };
                }
                None => {
                    first_usable.get_or_insert(key);
                }
            }
        }
        Found {
            story: None,
            new_id: first_usable.map_or_else(|| all_ambiguous_id(identity), story_id_for_key),
        }
    }
}

/// Every key is ambiguous: all of them together name this item.
fn all_ambiguous_id(identity: &StoryIdentity) -> String {
    story_id_for_key(&format!(
        "ambiguous:{}",
        identity.all_keys().collect::<Vec<_>>().join("\n")
    ))
}

/// What a poll hands out, in document order.
enum Outcome {
    New { story_id: String, index: usize },
    Reopened(String),
}

pub(super) async fn record_items(
    store: &PostgresStore,
    claimant: &Claimant,
    feed_id: &str,
    items: &[DiscoveredItem],
    ambiguous: &[String],
) -> Result<Vec<StoryTask>, StoreError> {
    let mut s = store.session().await?;
    let [
        keys_q,
        sightings_q,
        stories_q,
        mark,
        insert_keys,
        sight,
        insert_stories,
        reopen,
    ] = s
        .prepare([
            READ_KEYS,
            READ_SIGHTINGS,
            READ_STORIES,
            MARK_AMBIGUOUS,
            INSERT_KEYS,
            UPSERT_SIGHTINGS,
            INSERT_STORIES,
            REOPEN,
        ])
        .await?;
    let mut keys: Vec<&str> = ambiguous.iter().map(String::as_str).collect();
    let mut candidates = Vec::new();
    for item in items {
        keys.extend(item.identity.all_keys());
        candidates.extend(item.identity.all_keys().map(story_id_for_key));
        candidates.push(all_ambiguous_id(&item.identity));
    }
    keys.sort_unstable();
    keys.dedup();
    candidates.sort_unstable();
    candidates.dedup();
    let mut read = s
        .exchange(vec![
            BEGIN_REPEATABLE_READ,
            Step::Query(&keys_q, vec![&keys]),
            Step::Query(&sightings_q, vec![&feed_id, &candidates, &keys]),
            Step::Query(&stories_q, vec![&candidates]),
        ])
        .await?
        .into_iter()
        .skip(1);
    let (key_rows, sighting_rows, story_rows) = (
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
        read.next().unwrap_or_default(),
    );
    let mut view = View {
        keys: key_rows
            .iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("story_id")?)))
            .collect::<Result<_, StoreError>>()?,
        sightings: sighting_rows
            .iter()
            .map(|r| {
                let seen = Seen {
                    fingerprint: r.try_get("fingerprint")?,
                    guid: r.try_get("guid")?,
                    fragment: r.try_get("fragment")?,
                    body: r.try_get("body")?,
                };
                Ok((r.try_get("story_id")?, seen))
            })
            .collect::<Result<_, StoreError>>()?,
        stories: story_rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?,
    };
    let read_keys = view.keys.clone();

    for key in ambiguous {
        view.keys.insert(key.clone(), String::new());
    }
    let mut outcomes = Vec::new();
    let mut sightings: BTreeMap<String, Seen> = BTreeMap::new();
    let mut new_stories: Vec<(String, Option<&str>, String)> = Vec::new();
    let mut reopened: Vec<(String, String)> = Vec::new();
    let mut recorded: HashSet<String> = HashSet::new();
    for (index, discovered) in items.iter().enumerate() {
        let identity = &discovered.identity;
        let body = discovered.body.clone();
        let mut found = view.find(identity);
        let mut previous: Option<String> = None;
        // A story this feed showed before under another guid or link
        // fragment, with other text, is another story that happens to
        // share a key (a status page or live blog seen one entry at a
        // time): that key names several.
        while let Some((story_id, key)) = &found.story {
            let seen = view.sightings.get(story_id);
            let other = seen.is_some_and(|seen| {
                identity.other_than(
                    key,
                    &discovered.fingerprint,
                    body.as_deref(),
                    &seen.sighting(),
                )
            });
            if !other {
                previous = seen.map(|seen| seen.fingerprint.clone());
                break;
            }
            view.keys.insert(key.clone(), String::new());
            found = view.find(identity);
        }
        let story_id = found.new_id;
        let is_new = found.story.is_none();
        // Two items of one document that turn out to be one story: the
        // first one counts.
        if !recorded.insert(story_id.clone()) {
            continue;
        }
        for key in identity.all_keys() {
            view.keys
                .entry(key.to_string())
                .or_insert_with(|| story_id.clone());
        }
        if is_new {
            previous = view
                .sightings
                .get(&story_id)
                .map(|seen| seen.fingerprint.clone());
        }
        if previous.as_deref() == Some(discovered.fingerprint.as_str()) {
            continue;
        }
        let seen = Seen {
            fingerprint: discovered.fingerprint.clone(),
            guid: identity.guid.clone(),
            fragment: identity.fragment.clone(),
            body,
        };
        view.sightings.insert(story_id.clone(), seen.clone());
        sightings.insert(story_id.clone(), seen);
        let item_json = serde_json::to_string(&discovered.item)?;
        if is_new && view.stories.insert(story_id.clone()) {
            new_stories.push((story_id.clone(), identity.url.as_deref(), item_json));
            outcomes.push(Outcome::New { story_id, index });
            continue;
        }
        if previous.is_none() {
            // The same story seen in another feed: not news.
            continue;
        }
        reopened.push((story_id.clone(), item_json));
        outcomes.push(Outcome::Reopened(story_id));
    }

    // What changed in story_keys: keys now ambiguous, keys new.
    let mut now_ambiguous: Vec<&str> = Vec::new();
    let (mut new_keys, mut new_key_stories): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut changed: Vec<(&String, &String)> = view
        .keys
        .iter()
        .filter(|(key, id)| read_keys.get(*key) != Some(*id))
        .collect();
    // One order for every writer, so two never wait on each other's keys.
    changed.sort_unstable();
    for (key, id) in changed {
        if id.is_empty() {
            now_ambiguous.push(key);
        } else {
            new_keys.push(key);
            new_key_stories.push(id);
        }
    }
    if now_ambiguous.is_empty() && new_keys.is_empty() && sightings.is_empty() {
        // Nothing new in this poll: the read was all.
        s.end_read_only();
        return Ok(Vec::new());
    }
    let now = now_ms();
    let until = claimant.lease_until(now);
    let sighted: Vec<&str> = sightings.keys().map(String::as_str).collect();
    let fingerprints: Vec<&str> = sightings.values().map(|s| s.fingerprint.as_str()).collect();
    let guids: Vec<Option<&str>> = sightings.values().map(|s| s.guid.as_deref()).collect();
    let fragments: Vec<Option<&str>> = sightings.values().map(|s| s.fragment.as_deref()).collect();
    let bodies: Vec<Option<&str>> = sightings.values().map(|s| s.body.as_deref()).collect();
    new_stories.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let new_ids: Vec<&str> = new_stories.iter().map(|s| s.0.as_str()).collect();
    let new_urls: Vec<Option<&str>> = new_stories.iter().map(|s| s.1).collect();
    let new_items: Vec<&str> = new_stories.iter().map(|s| s.2.as_str()).collect();
    reopened.sort_unstable();
    let reopen_ids: Vec<&str> = reopened.iter().map(|r| r.0.as_str()).collect();
    let reopen_items: Vec<&str> = reopened.iter().map(|r| r.1.as_str()).collect();

    let mut steps = Vec::new();
    if !now_ambiguous.is_empty() {
        steps.push(Step::Query(&mark, vec![&now_ambiguous]));
    }
    if !new_keys.is_empty() {
        steps.push(Step::Query(&insert_keys, vec![&new_keys, &new_key_stories]));
    }
    if !sighted.is_empty() {
        steps.push(Step::Query(
            &sight,
            vec![
                &feed_id,
                &sighted,
                &fingerprints,
                &guids,
                &fragments,
                &bodies,
            ],
        ));
    }
    let story_step = (!new_ids.is_empty()).then_some(steps.len());
    if story_step.is_some() {
        steps.push(Step::Query(
            &insert_stories,
            vec![
                &feed_id,
                &now,
                &claimant.id,
                &until,
                &new_ids,
                &new_urls,
                &new_items,
            ],
        ));
    }
    let reopen_step = (!reopen_ids.is_empty()).then_some(steps.len());
    if reopen_step.is_some() {
        steps.push(Step::Query(
            &reopen,
            vec![
                &feed_id,
                &now,
                &claimant.id,
                &until,
                &reopen_ids,
                &reopen_items,
            ],
        ));
    }
    steps.push(COMMIT);
    let answers = s.exchange(steps).await?;
    let rows_of = |step: Option<usize>| -> &[Row] { step.map_or(&[], |i| answers[i].as_slice()) };
    let inserted: HashSet<&str> = rows_of(story_step)
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut taken: HashMap<String, StoryTask> = HashMap::new();
    for row in rows_of(reopen_step) {
        // Handed to this worker only when the update left the story open
        // and in its hands.
        let open = row.try_get::<_, &str>("state")? == "discovered";
        let holder: Option<&str> = row.try_get("lease_owner")?;
        if open && holder == Some(claimant.id.as_str()) {
            let task = task_of(row)?;
            taken.insert(task.story_id.clone(), task);
        }
    }
    let mut work = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::New { story_id, index } if inserted.contains(story_id.as_str()) => {
                let discovered = &items[index];
                work.push(StoryTask {
                    story_id,
                    feed_id: feed_id.to_string(),
                    item: discovered.item.clone(),
                    url: discovered.identity.url.clone(),
                    item_version: 0,
                    published_revision: 0,
                    published_hash: None,
                    published_status: None,
                });
            }
            Outcome::New { .. } => {}
            Outcome::Reopened(story_id) => work.extend(taken.remove(&story_id)),
        }
    }
    Ok(work)
}

/// Looks up whether any key of `identity` is known: the keys and the
/// stories they name are read together.
pub(super) async fn lookup(
    store: &PostgresStore,
    identity: &StoryIdentity,
) -> Result<Option<StoryRecord>, StoreError> {
    let mut s = store.session().await?;
    let select_stories = format!(
        "SELECT {RECORD_COLUMNS} FROM stories
         WHERE id IN (SELECT story_id FROM story_keys WHERE key = ANY($1))"
    );
    let [keys_q, stories_q] = s.prepare([READ_KEYS, &select_stories]).await?;
    let keys: Vec<&str> = identity.all_keys().collect();
    let answers = s
        .exchange(vec![
            Step::Query(&keys_q, vec![&keys]),
            Step::Query(&stories_q, vec![&keys]),
        ])
        .await?;
    let named: HashMap<&str, &str> = answers[0]
        .iter()
        .map(|r| Ok((r.try_get("key")?, r.try_get("story_id")?)))
        .collect::<Result<_, StoreError>>()?;
    let Some(story_id) = keys
        .iter()
        .filter_map(|key| named.get(key))
        .find(|id| !id.is_empty())
    else {
        return Ok(None);
    };
    for row in &answers[1] {
        if row.try_get::<_, &str>("id")? == *story_id {
            return Ok(Some(record_of(row)?));
        }
    }
    Ok(None)
}
