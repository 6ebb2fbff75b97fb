//! Reader-comment threads at the end of a text: where they start and how
//! much of the first comment sits above its signature.

use super::story_lists::{Heading, ends_sentence};

/// Longest notice that a comment thread is closed.
const MAX_NOTICE_CHARS: usize = 100;

/// Whether a reader-comment thread starts at `paras[0]`: a notice that
/// comments are closed ("Comments are now closed for this story", "Thanks
/// for your comments - this feedback is now closed"), or a "Posted by:
/// name on date" line with another one after it.
pub(super) fn starts_comments(paras: &[String]) -> bool {
    // Called for each paragraph after the text's opening: only a short one
    // is lower-cased, and "posted by" is compared in place.
    let notice = paras[0].len() <= MAX_NOTICE_CHARS && {
        let l = paras[0].to_lowercase();
        (l.contains("comment") || l.contains("feedback")) && l.contains("closed")
    };
    notice || (is_signature(&paras[0]) && paras[1..].iter().any(|p| is_signature(p)))
}

/// A comment's "Posted by name on date" line ("posted by" compared in
/// place), opening a paragraph or closing the comment above it in one.
pub(super) fn is_signature(p: &str) -> bool {
    let signed = |l: &str| {
        l.trim_start()
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case("posted by"))
    };
    signed(p) || p.lines().last().is_some_and(signed)
}

/// Prose (in characters) the text must have before a comment thread's
/// markers are believed in its first half: where readers wrote more than
/// the article, the thread starts before the text's middle.
pub(super) const MIN_PROSE_BEFORE_COMMENTS: usize = 400;
/// Most paragraphs of a first comment above its "Posted by" line.
const MAX_FIRST_COMMENT_PARAS: usize = 3;

/// `out` without the first comment of a thread whose "Posted by" line comes
/// next: a comment's sentences sit above its signature, under the comment's
/// own title and the thread's heading ("Have your say"). Only when such a
/// title is found at most [`MAX_FIRST_COMMENT_PARAS`] paragraphs up with
/// nothing but sentences under it.
/// `signed` holds the first comment itself, its signature on its last line.
pub(super) fn drop_first_comment(out: &mut Vec<String>, signed: &str) {
    let is_heading = |p: &String| Heading::of(p).is_some() && !ends_sentence(p);
    let floor = out.len().saturating_sub(MAX_FIRST_COMMENT_PARAS + 1);
    let Some(mut j) = (floor..out.len()).rev().find(|&j| is_heading(&out[j])) else {
        return;
    };
    let comment_here = signed.lines().nth(1).is_some();
    if (j + 1 == out.len() && !comment_here) || !out[j + 1..].iter().all(|p| ends_sentence(p)) {
        return;
    }
    if j > 1 && is_heading(&out[j - 1]) {
        j -= 1;
    }
    out.truncate(j);
}

#[cfg(test)]
mod tests {
    use super::super::story_lists::tests::{article, pruned};

    #[test]
    fn a_closed_comment_thread_or_posted_by_lines_end_the_text() {
        let body = article(4);
        let comment = "Posted by: Dom, London on 5:19pm Tue 1 Jan 08";
        for tail in [
            "Thanks for your comments - this feedback is now closed".to_string(),
            format!("{comment}\n\nA tight league.\n\n{comment}\n\nCome on!"),
        ] {
            let t = format!("{body}\n\n{tail}");
            assert_eq!(pruned(&t), body);
        }
        // One "posted by" line is the article's own dateline.
        let t = format!("{body}\n\n{comment}\n\n{body}");
        assert_eq!(pruned(&t), t);
    }

    #[test]
    fn a_thread_longer_than_the_article_ends_it_first_comment_included() {
        let body = article(4);
        let reply = "I could not agree more with what the writer says about the plan, \
                     and I have said so for years.";
        let signed = |who: &str| format!("{reply}\n\nPosted by {who} on January 10, 2008 5:29 PM");
        let thread = format!(
            "Have your say\n\nWill the plan work?\n\n{reply}\n\n{}\n\n{}\n\n{}",
            signed("Idealist"),
            signed("John"),
            signed("rupert")
        );
        assert_eq!(pruned(&format!("{body}\n\n{thread}")), body);
        // Each signature closing its comment's paragraph.
        let signed = |who: &str| format!("{reply}\nPosted by {who} on January 10, 2008 5:29 PM");
        let thread = format!(
            "Have your say\n\nWill the plan work?\n\n{}\n\n{}",
            signed("Idealist"),
            signed("John")
        );
        assert_eq!(pruned(&format!("{body}\n\n{thread}")), body);
        let closed = format!(
            "Comments are now closed for this story\n\n{}",
            [reply; 8].join("\n\n")
        );
        assert_eq!(pruned(&format!("{body}\n\n{closed}")), body);
        // Without prose before it, the notice does not end the text.
        let t = format!("Comments are closed\n\n{body}");
        assert_eq!(pruned(&t), t);
    }
}
