//! HTML to plain text: the one renderer for a page's article text and for
//! a feed item's HTML, so a message's `text` follows the same rules whether
//! it came from the page or from the feed. Paragraphs are separated by one
//! blank line, headings stand as their own paragraph, list items and `<br>`
//! break lines, whitespace is collapsed (kept inside `<pre>`). Iterative (no
//! recursion), so any depth of nesting is safe.

use dom_query::NodeRef;

/// What a rendering keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Article text: a page's extracted body, a feed item's content or
    /// summary. The chrome that rides along with a story's HTML (navigation,
    /// asides, footers, forms and buttons, figure captions, media) is
    /// dropped, as are hidden elements.
    Article,
    /// A one-line field (a title, a name, a category): whatever text the
    /// publisher wrote is the field, so only what is never text (scripts,
    /// styles, embedded objects) and hidden elements are dropped.
    Field,
}

/// Never text, in any profile.
const NON_TEXT: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "head", "title", "meta", "link", "select", "input", "textarea",
];

/// Chrome around article text: dropped from [`Profile::Article`].
const CHROME: &[&str] = &[
    "button",
    "nav",
    "aside",
    "footer",
    "form",
    "figcaption",
    "video",
    "audio",
    "picture",
    "img",
    "dialog",
    "menu",
];

impl Profile {
    /// Whether the element named `name` (lower case) is left out with all
    /// its content.
    pub fn skips(self, name: &str) -> bool {
        NON_TEXT.contains(&name) || (self == Profile::Article && CHROME.contains(&name))
    }
}

/// Elements that start and end a paragraph.
pub const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "form",
    "figcaption",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "table",
    "figure",
    "pre",
    "hr",
    "address",
    "details",
    "summary",
    "body",
    "center",
    "fieldset",
    "hgroup",
];

/// Elements that start and end a line (inside a paragraph).
pub const LINE: &[&str] = &["li", "dt", "dd", "tr", "caption", "option"];

/// Whether an element is hidden by an attribute or inline style.
pub fn is_hidden(node: &NodeRef) -> bool {
    if node.has_attr("hidden") {
        return true;
    }
    if node
        .attr("aria-hidden")
        .is_some_and(|v| v.as_ref() == "true")
    {
        return true;
    }
    node.attr("style").is_some_and(|s| {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

/// Render one subtree.
pub fn render(root: &NodeRef, profile: Profile) -> String {
    render_nodes(std::slice::from_ref(root), profile)
}

/// Render the text of several roots (in order) as one text.
pub fn render_nodes(roots: &[NodeRef], profile: Profile) -> String {
    let mut b = Builder::default();
    for root in roots {
        render_into(&mut b, root, profile);
        b.brk(2);
    }
    b.finish()
}

#[derive(Default)]
struct Builder {
    out: String,
    /// 0 = none, 1 = newline, 2 = blank line before the next text.
    pending: u8,
    /// The last character written was whitespace (or nothing in this line yet).
    at_space: bool,
}

impl Builder {
    fn brk(&mut self, level: u8) {
        self.pending = self.pending.max(level);
    }

    fn push_text(&mut self, s: &str, pre: bool) {
        if pre {
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    self.brk(1);
                }
                // Spaces between the spans of highlighted code ("SELECT",
                // " ", "avg") are the code's own; only a line's trailing
                // spaces go (at the next break) and blank lines.
                let fresh = self.pending > 0 || self.out.is_empty();
                if line.is_empty() || (fresh && line.trim().is_empty()) {
                    continue;
                }
                self.push_raw_start();
                self.out.push_str(line);
                self.at_space = line.ends_with(char::is_whitespace);
            }
            return;
        }
        for (i, word) in s.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.at_space = true;
            }
            if word.is_empty() {
                continue;
            }
            let fresh_line = self.pending > 0 || self.out.is_empty();
            self.push_raw_start();
            if !fresh_line && self.at_space {
                self.out.push(' ');
            }
            self.out.push_str(word);
            self.at_space = false;
        }
        if s.ends_with(char::is_whitespace) {
            self.at_space = true;
        }
    }

    fn push_raw_start(&mut self) {
        if self.pending > 0 {
            if !self.out.is_empty() {
                let trimmed = self.out.trim_end_matches([' ', '\t']).len();
                self.out.truncate(trimmed);
                self.out
                    .push_str(if self.pending >= 2 { "\n\n" } else { "\n" });
            }
            self.pending = 0;
            self.at_space = false;
        }
    }

    fn finish(self) -> String {
        self.out.trim().to_string()
    }
}

enum Step<'a> {
    Enter(NodeRef<'a>, bool),
    Exit(u8),
}

fn render_into(b: &mut Builder, root: &NodeRef, profile: Profile) {
    let mut stack = vec![Step::Enter(*root, false)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Exit(level) => b.brk(level),
            Step::Enter(node, pre) => {
                if node.is_text() {
                    b.push_text(&node.text(), pre);
                    continue;
                }
                if !(node.is_element() || node.is_document() || node.is_fragment()) {
                    continue;
                }
                let mut level = 0u8;
                let mut pre = pre;
                if node.is_element() {
                    let name = node
                        .node_name()
                        .map(|n| n.to_ascii_lowercase())
                        .unwrap_or_default();
                    if profile.skips(&name) || is_hidden(&node) {
                        continue;
                    }
                    match name.as_str() {
                        "br" => {
                            b.brk(1);
                            continue;
                        }
                        "td" | "th" => {
                            b.push_text(" ", false);
                        }
                        "pre" => pre = true,
                        _ => {}
                    }
                    if BLOCK.contains(&name.as_str()) {
                        level = 2;
                    } else if LINE.contains(&name.as_str()) {
                        level = 1;
                    }
                }
                b.brk(level);
                stack.push(Step::Exit(level));
                let children: Vec<NodeRef> = node.children_it(true).collect();
                stack.extend(children.into_iter().map(|c| Step::Enter(c, pre)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom_query::Document;

    fn article(html: &str) -> String {
        render(&Document::from(html).root(), Profile::Article)
    }

    fn field(html: &str) -> String {
        render(&Document::fragment(html).root(), Profile::Field)
    }

    #[test]
    fn paragraphs_and_headings() {
        let t = article(
            "<body><p>First   para\n with  <b>bold</b> text.</p><h2>Sub head</h2><p>Second.</p></body>",
        );
        assert_eq!(t, "First para with bold text.\n\nSub head\n\nSecond.");
    }

    #[test]
    fn lists_one_per_line() {
        let t = article("<p>Intro</p><ul><li>one</li><li>two <i>2</i></li></ul><p>End</p>");
        assert_eq!(t, "Intro\n\none\ntwo 2\n\nEnd");
        assert_eq!(
            article("<div>a</div>b<ul><li>one</li><li>two</li></ul>"),
            "a\n\nb\n\none\ntwo"
        );
    }

    #[test]
    fn article_drops_scripts_chrome_and_hidden() {
        let t = article(
            "<div><script>var x=1;</script><figure><img alt='pic'><figcaption>Photo: AP</figcaption></figure>\
             <p style='display: none'>hidden</p><p>Kept</p><nav>Home</nav><button>Share</button>\
             <form>Sign up</form><aside>Related</aside><footer>(c) 2026</footer></div>",
        );
        assert_eq!(t, "Kept");
    }

    #[test]
    fn field_keeps_all_written_text_but_not_code() {
        let t =
            field("Storm <figcaption>warning</figcaption><button>now</button><script>x()</script>");
        assert_eq!(t, "Storm\n\nwarning\n\nnow");
        assert_eq!(field("a <span hidden>b</span>c"), "a c");
    }

    #[test]
    fn inline_spacing_and_entities() {
        let t = article("<p>a<span>b</span> <a href='#'>link</a>.</p><p>x<br>y</p>");
        assert_eq!(t, "ab link.\n\nx\ny");
        assert_eq!(
            field("Hello <a href=x>world</a>, ok &amp; more&nbsp;here"),
            "Hello world, ok & more here"
        );
    }

    #[test]
    fn table_cells_are_spaced() {
        assert_eq!(
            article("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>"),
            "a b\nc"
        );
    }

    #[test]
    fn pre_keeps_lines() {
        let t = article("<pre>fn main() {\n    x\n}</pre>");
        assert_eq!(t, "fn main() {\n    x\n}");
        // Highlighted code: the spaces between its spans are kept.
        let t = article(
            "<pre><span>SELECT</span> <span>avg</span>(n)  \n\n<span>FROM</span> <span>t</span></pre>",
        );
        assert_eq!(t, "SELECT avg(n)\nFROM t");
    }

    #[test]
    fn deep_nesting_renders_without_recursion() {
        // The parser itself caps nothing here: this is the renderer's own
        // guarantee (the pre-pass that bounds parsing is tested beside it).
        let html = "<span>".repeat(5_000) + "deep" + &"</span>".repeat(5_000);
        assert_eq!(field(&html), "deep");
    }
}
