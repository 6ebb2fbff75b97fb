//! Open formatting elements, counted for the pre-pass ([`super::depth`]).

use super::tags::Tag;

/// Most formatting elements (`<b>`, `<i>`, `<font>`…) left open at once.
/// html5ever keeps every unclosed formatting element in its list of active
/// formatting elements and re-creates all of them in each new paragraph, so
/// 150 unclosed `<b id><i id>` before 8,000 `<p>`s become 2.4 million
/// elements (its "Noah's Ark" clause only limits identical ones to three).
/// Start tags beyond this many open ones are dropped, with their end tags.
pub const MAX_OPEN_FORMATTING: usize = 6;

/// The formatting elements html5ever re-creates, without `<a>` and `<nobr>`,
/// of which a new one closes the open one, so they never pile up.
pub(crate) const FORMATTING: [&[u8]; 12] = [
    b"b", b"i", b"u", b"s", b"em", b"strong", b"font", b"big", b"small", b"code", b"tt", b"strike",
];

/// Open and dropped formatting elements, by name (index in [`FORMATTING`]).
#[derive(Default, Clone, Copy)]
struct Counts {
    open: [usize; FORMATTING.len()],
    dropped: [usize; FORMATTING.len()],
    total_open: usize,
}

/// Where a [`Counts`] was saved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Table,
    /// A table cell: html5ever puts a marker in its formatting list there,
    /// and clears the list back to it when the cell ends.
    Cell,
    /// `<caption>`, `<object>`, `<marquee>`, `<applet>`, `<template>`: also markers.
    Other,
}

/// Most scopes remembered; deeper ones are neither saved nor reset.
const MAX_SCOPES: usize = 256;

/// The formatting elements html5ever would keep active, approximately:
/// counted per marker scope (a table cell's unclosed `<font>` ends with the
/// cell), so that old table layouts keep their formatting.
#[derive(Default)]
pub(crate) struct Formatting {
    now: Counts,
    saved: Vec<(Scope, Counts)>,
}

impl Formatting {
    fn enter(&mut self, scope: Scope) {
        if self.saved.len() < MAX_SCOPES {
            self.saved.push((scope, self.now));
            if scope != Scope::Table {
                self.now = Counts::default();
            }
        }
    }

    /// Leave the innermost `scope` if it is on top (a table: above its
    /// cells). A cell or marker restores the counts from before it; a table
    /// is no marker (formatting opened in it stays active), so it does not.
    fn leave(&mut self, scope: Scope) {
        if scope == Scope::Table {
            self.leave_cells();
        }
        if let Some(&(top, counts)) = self.saved.last()
            && top == scope
        {
            if scope != Scope::Table {
                self.now = counts;
            }
            self.saved.pop();
        }
    }

    /// End the open cells of the innermost table (a new row or cell ends them).
    fn leave_cells(&mut self) {
        while let Some(&(Scope::Cell, counts)) = self.saved.last() {
            self.now = counts;
            self.saved.pop();
        }
    }

    /// Whether a table is open: outside one, html5ever ignores cell tags.
    fn in_table(&self) -> bool {
        self.saved.iter().any(|(s, _)| *s == Scope::Table)
    }

    /// Track the scopes that bound the list of active formatting elements.
    fn scope_tag(&mut self, tag: &Tag) {
        if tag.self_closing {
            return;
        }
        match (tag.name(), tag.is_end) {
            (b"table", false) => self.enter(Scope::Table),
            (b"table", true) => self.leave(Scope::Table),
            (b"td" | b"th" | b"caption", false) if self.in_table() => {
                self.leave_cells();
                self.enter(Scope::Cell);
            }
            (b"td" | b"th" | b"caption", true) => self.leave(Scope::Cell),
            (b"tr" | b"tbody" | b"thead" | b"tfoot", _) => self.leave_cells(),
            (b"object" | b"marquee" | b"applet" | b"template", false) => self.enter(Scope::Other),
            (b"object" | b"marquee" | b"applet" | b"template", true) => self.leave(Scope::Other),
            _ => {}
        }
    }

    /// Whether the tag is to be dropped; counts it otherwise.
    pub(crate) fn drop_tag(&mut self, tag: &Tag) -> bool {
        let name = tag.name();
        let Some(k) = FORMATTING.iter().position(|n| *n == name) else {
            self.scope_tag(tag);
            return false;
        };
        let c = &mut self.now;
        if tag.is_end {
            if c.dropped[k] > 0 {
                c.dropped[k] -= 1;
                return true;
            }
            if c.open[k] > 0 {
                c.open[k] -= 1;
                c.total_open -= 1;
            }
            return false;
        }
        if tag.self_closing {
            return false;
        }
        if c.total_open >= MAX_OPEN_FORMATTING {
            c.dropped[k] += 1;
            return true;
        }
        c.open[k] += 1;
        c.total_open += 1;
        false
    }
}
