//! Rendering a DOM subtree to plain text in feedwire's format: paragraphs
//! separated by one blank line, headings on their own paragraph, list items
//! one per line, whitespace collapsed. Iterative (no recursion), so any depth
//! of nesting is safe.

use dom_query::NodeRef;

/// Elements whose content is never part of the text.
pub(crate) const SKIP: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "math",
    "button",
    "nav",
    "aside",
    "footer",
    "form",
    "figcaption",
    "iframe",
    "select",
    "input",
    "textarea",
    "object",
    "embed",
    "canvas",
    "video",
    "audio",
    "picture",
    "img",
    "head",
    "title",
    "meta",
    "link",
    "dialog",
    "menu",
];

/// Elements that start and end a paragraph.
pub(crate) const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
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
pub(crate) const LINE: &[&str] = &["li", "dt", "dd", "tr", "caption", "option"];

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
                if !line.trim().is_empty() {
                    self.push_raw_start();
                    self.out.push_str(line.trim_end());
                    self.at_space = false;
                }
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

/// Whether an element is hidden by an attribute or inline style.
pub(crate) fn is_hidden(node: &NodeRef) -> bool {
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

enum Step<'a> {
    Enter(NodeRef<'a>, bool),
    Exit(u8),
}

/// Render the text of several roots (in order) as one text.
pub fn render_nodes(roots: &[NodeRef]) -> String {
    let mut b = Builder::default();
    for root in roots {
        render_into(&mut b, root);
        b.brk(2);
    }
    b.finish()
}

/// Render one subtree.
pub fn render(root: &NodeRef) -> String {
    render_nodes(std::slice::from_ref(root))
}

fn render_into(b: &mut Builder, root: &NodeRef) {
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
                    if SKIP.contains(&name.as_str()) || is_hidden(&node) {
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

/// A text reduced to its lower-cased letters and digits, to compare two
/// texts (a title and a site name, a description and a paragraph) whatever
/// their spacing, punctuation and case.
pub(crate) fn match_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Collapse whitespace in a short string (titles, names).
pub fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom_query::Document;

    fn body_text(html: &str) -> String {
        let doc = Document::from(html);
        render(&doc.root())
    }

    #[test]
    fn paragraphs_and_headings() {
        let t = body_text(
            "<body><p>First   para\n with  <b>bold</b> text.</p><h2>Sub head</h2><p>Second.</p></body>",
        );
        assert_eq!(t, "First para with bold text.\n\nSub head\n\nSecond.");
    }

    #[test]
    fn lists_one_per_line() {
        let t = body_text("<p>Intro</p><ul><li>one</li><li>two <i>2</i></li></ul><p>End</p>");
        assert_eq!(t, "Intro\n\none\ntwo 2\n\nEnd");
    }

    #[test]
    fn skips_scripts_captions_hidden() {
        let t = body_text(
            "<div><script>var x=1;</script><figure><img alt='pic'><figcaption>Photo: AP</figcaption></figure>\
             <p style='display: none'>hidden</p><p>Kept</p><nav>Home</nav></div>",
        );
        assert_eq!(t, "Kept");
    }

    #[test]
    fn inline_spacing_kept() {
        let t = body_text("<p>a<span>b</span> <a href='#'>link</a>.</p><p>x<br>y</p>");
        assert_eq!(t, "ab link.\n\nx\ny");
    }

    #[test]
    fn pre_keeps_lines() {
        let t = body_text("<pre>fn main() {\n    x\n}</pre>");
        assert_eq!(t, "fn main() {\n    x\n}");
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_ws("  a \n b\t c "), "a b c");
    }
}
